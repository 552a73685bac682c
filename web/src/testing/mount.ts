// Mounting a component as the app would: i18n, configuration, a session and an API client
// whose fetch the test controls.

import { mount, type ComponentMountingOptions } from '@vue/test-utils'
import type { Component } from 'vue'
import { ApiClient } from '../api/client'
import { ApiKey, ConfigKey, SessionKey } from '../composables/context'
import { createSession } from '../composables/session'
import { DEFAULT_CONFIG, type ConsoleConfig } from '../config'
import { createConsoleI18n } from '../i18n'

export type FakeFetch = (url: string, init?: RequestInit) => Promise<Response>

export function json(body: unknown, status = 200, type = 'application/json'): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type } })
}

export function problem(status: number, title: string, detail?: string, extra: object = {}): Response {
  return json({ type: 'about:blank', title, status, detail, ...extra }, status, 'application/problem+json')
}

export function setup(fetch: FakeFetch, options: { role?: string; config?: Partial<ConsoleConfig> } = {}) {
  const session = createSession(null)
  session.start({
    access_token: 'tok',
    token_type: 'bearer',
    expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    username: 'ada',
    role: (options.role ?? 'admin') as 'admin',
  })
  const api = new ApiClient({ baseUrl: '/api/v1', token: () => session.state.token, fetch: fetch as typeof globalThis.fetch })
  const config = { ...DEFAULT_CONFIG, tasks: ['digits-cnn'], strategies: ['FedAvg', 'Krum'], ...options.config }
  const i18n = createConsoleI18n('en')
  const global = {
    plugins: [i18n],
    provide: { [ConfigKey as symbol]: config, [SessionKey as symbol]: session, [ApiKey as symbol]: api },
    stubs: { RouterLink: { template: '<a><slot /></a>' } },
  }
  return {
    session,
    api,
    mount<C extends Component>(component: C, extra: ComponentMountingOptions<C> = {}) {
      return mount(component, { ...extra, global } as ComponentMountingOptions<C>)
    },
  }
}
