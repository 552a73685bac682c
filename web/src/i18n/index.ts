import { createI18n } from 'vue-i18n'
import type { Locale } from '../config'
import en from './en'
import zh from './zh'
import { LOCALE_KEY } from './locale'

export type MessageSchema = typeof en

export function createConsoleI18n(locale: Locale) {
  return createI18n<[MessageSchema], Locale, false>({
    legacy: false,
    locale,
    fallbackLocale: 'en',
    messages: { en, zh },
    datetimeFormats: {
      en: { short: { dateStyle: 'medium', timeStyle: 'short' } },
      zh: { short: { dateStyle: 'medium', timeStyle: 'short' } },
    },
    numberFormats: {
      en: { percent: { style: 'percent', maximumFractionDigits: 1 } },
      zh: { percent: { style: 'percent', maximumFractionDigits: 1 } },
    },
  })
}

/** Switches the language, remembers the choice and tells assistive technology. */
export function applyLocale(i18n: ReturnType<typeof createConsoleI18n>, locale: Locale): void {
  i18n.global.locale.value = locale
  document.documentElement.lang = locale === 'zh' ? 'zh-CN' : 'en'
  try {
    localStorage.setItem(LOCALE_KEY, locale)
  } catch {
    // private mode: the choice lasts for this page only
  }
}
