// What every page needs, provided once by main.ts: the configuration, the session, the API.

import { inject, type InjectionKey } from 'vue'
import type { ApiClient } from '../api/client'
import type { ConsoleConfig } from '../config'
import type { Session } from './session'

export const ConfigKey: InjectionKey<ConsoleConfig> = Symbol('config')
export const SessionKey: InjectionKey<Session> = Symbol('session')
export const ApiKey: InjectionKey<ApiClient> = Symbol('api')

function required<T>(key: InjectionKey<T>, what: string): T {
  const value = inject(key)
  if (value === undefined) throw new Error(`${what} was not provided to the app`)
  return value
}

export const useConfig = () => required(ConfigKey, 'the console configuration')
export const useSession = () => required(SessionKey, 'the session')
export const useApi = () => required(ApiKey, 'the API client')
