import { createApp } from 'vue'
import { ApiClient } from './api/client'
import App from './App.vue'
import { ApiKey, ConfigKey, SessionKey } from './composables/context'
import { createSession } from './composables/session'
import { loadConfig } from './config'
import { createConsoleI18n } from './i18n'
import { LOCALE_KEY, pickLocale } from './i18n/locale'
import { createConsoleRouter } from './router'
import './style.css'

async function start() {
  const config = await loadConfig()
  let stored: string | null = null
  try {
    stored = localStorage.getItem(LOCALE_KEY)
  } catch {
    // storage unavailable: follow the browser
  }
  const locale = pickLocale(navigator.languages ?? [navigator.language], config.defaultLocale, stored)
  const i18n = createConsoleI18n(locale)
  document.documentElement.lang = locale === 'zh' ? 'zh-CN' : 'en'

  const session = createSession()
  const router = createConsoleRouter(session)
  const api = new ApiClient({
    baseUrl: config.apiBase,
    token: () => session.state.token,
    onUnauthorized: () => {
      if (!session.signedIn.value) return
      session.end(true)
      const here = router.currentRoute.value
      if (here.name !== 'login') void router.push({ name: 'login', query: { next: here.fullPath } })
    },
  })

  const app = createApp(App)
  app.provide(ConfigKey, config).provide(SessionKey, session).provide(ApiKey, api).provide('i18n', i18n)
  app.use(i18n).use(router)
  await router.isReady()
  app.mount('#app')
}

void start()
