import type { Locale } from '../config'

export const LOCALES: Locale[] = ['zh', 'en']
export const LOCALE_KEY = 'consortium.locale'

/**
 * The console's language: the person's own choice (kept in localStorage), else the
 * deployment's, else the first of the browser's preferred languages that the console speaks
 * (Chinese first when the browser prefers it), else English.
 */
export function pickLocale(
  browser: readonly string[],
  configured: Locale | null,
  stored: string | null,
): Locale {
  if (stored === 'en' || stored === 'zh') return stored
  if (configured) return configured
  for (const tag of browser) {
    const primary = tag.toLowerCase().split('-')[0]
    if (primary === 'zh') return 'zh'
    if (primary === 'en') return 'en'
  }
  return 'en'
}
