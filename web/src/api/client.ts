// The HTTP layer under every endpoint function: base URL, bearer token, problem details.

import { ApiError, problemFrom, unreachable } from './problem'

export type Query = Record<string, string | number | boolean | null | undefined>

export interface RequestOptions {
  query?: Query
  body?: unknown
  signal?: AbortSignal
  /** the expected answer: parsed JSON (default), text or a Blob */
  as?: 'json' | 'text' | 'blob'
}

export interface ClientOptions {
  baseUrl: string
  token: () => string | null
  /** called on a 401, after which the request still fails with its problem */
  onUnauthorized?: () => void
  fetch?: typeof fetch
}

export class ApiClient {
  readonly baseUrl: string
  private readonly options: ClientOptions

  constructor(options: ClientOptions) {
    this.options = options
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
  }

  url(path: string, query?: Query): string {
    const params = new URLSearchParams()
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null && value !== '') params.set(key, String(value))
    }
    const search = params.toString()
    return `${this.baseUrl}${path}${search ? `?${search}` : ''}`
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const token = this.options.token()
    return token ? { ...extra, Authorization: `Bearer ${token}` } : extra
  }

  /** A raw authenticated request (used by the live event stream); errors become ApiError. */
  async send(path: string, init: RequestInit & { query?: Query } = {}): Promise<Response> {
    const doFetch = this.options.fetch ?? globalThis.fetch.bind(globalThis)
    let response: Response
    try {
      response = await doFetch(this.url(path, init.query), init)
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') throw error
      throw new ApiError(unreachable(error))
    }
    if (!response.ok) {
      if (response.status === 401) this.options.onUnauthorized?.()
      throw new ApiError(await problemFrom(response))
    }
    return response
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers = this.headers({ Accept: 'application/json' })
    let body: string | undefined
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(options.body)
    }
    const response = await this.send(path, {
      method,
      headers,
      body,
      signal: options.signal,
      query: options.query,
    })
    if (options.as === 'text') return (await response.text()) as T
    if (options.as === 'blob') return (await response.blob()) as T
    if (response.status === 204) return undefined as T
    return (await response.json()) as T
  }
}
