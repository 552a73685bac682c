// Run-time configuration: `config.json` next to index.html, so one build serves every
// environment (a deployment replaces that file, e.g. from a ConfigMap).

export type Locale = 'en' | 'zh'

export interface ConsoleConfig {
  /** where the gateway's API is, relative to the console or absolute */
  apiBase: string
  /** tasks offered in the job form (any other name may still be typed) */
  tasks: string[]
  strategies: string[]
  /** forces a language; otherwise the browser's preference decides */
  defaultLocale: Locale | null
}

export const DEFAULT_CONFIG: ConsoleConfig = {
  apiBase: '/api/v1',
  tasks: ['digits-cnn'],
  strategies: ['FedAvg'],
  defaultLocale: null,
}

export function parseConfig(raw: unknown): ConsoleConfig {
  const value = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<ConsoleConfig>
  const strings = (list: unknown, fallback: string[]) =>
    Array.isArray(list) && list.every((item) => typeof item === 'string') ? (list as string[]) : fallback
  return {
    apiBase: typeof value.apiBase === 'string' && value.apiBase ? value.apiBase : DEFAULT_CONFIG.apiBase,
    tasks: strings(value.tasks, DEFAULT_CONFIG.tasks),
    strategies: strings(value.strategies, DEFAULT_CONFIG.strategies),
    defaultLocale: value.defaultLocale === 'en' || value.defaultLocale === 'zh' ? value.defaultLocale : null,
  }
}

export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<ConsoleConfig> {
  try {
    const response = await fetchImpl(`${import.meta.env.BASE_URL}config.json`, { cache: 'no-store' })
    if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`)
    return parseConfig(await response.json())
  } catch (error) {
    console.warn('console configuration not loaded, using defaults:', error)
    return DEFAULT_CONFIG
  }
}
