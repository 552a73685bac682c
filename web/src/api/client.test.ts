import { describe, expect, it, vi } from 'vitest'
import { problem, json } from '../testing/mount'
import { ApiClient } from './client'
import { listJobs, readAudit } from './endpoints'
import { ApiError } from './problem'

function client(fetch: (url: string, init?: RequestInit) => Promise<Response>, onUnauthorized = vi.fn()) {
  return new ApiClient({ baseUrl: '/api/v1/', token: () => 'secret', fetch: fetch as typeof globalThis.fetch, onUnauthorized })
}

describe('ApiClient', () => {
  it('sends the bearer token and drops empty query values', async () => {
    const fetch = vi.fn(async (_url: string, _init?: RequestInit) => json([]))
    await readAudit(client(fetch), { after_seq: 0, limit: 5, job_id: undefined })
    const [url, init] = fetch.mock.calls[0]
    expect(url).toBe('/api/v1/audit?after_seq=0&limit=5')
    expect((init!.headers as Record<string, string>).Authorization).toBe('Bearer secret')
  })

  it('turns a problem+json answer into an ApiError carrying it', async () => {
    const api = client(async () => problem(503, 'Service unavailable', 'the coordinator is down'))
    const error = await listJobs(api).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect((error as ApiError).problem).toMatchObject({ status: 503, detail: 'the coordinator is down' })
  })

  it('makes a problem of an answer that is not one', async () => {
    const api = client(async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }))
    const error = (await listJobs(api).catch((e: unknown) => e)) as ApiError
    expect(error.problem).toMatchObject({ title: 'Bad Gateway', status: 502, detail: '<html>bad gateway</html>' })
  })

  it('names an unreachable gateway', async () => {
    const api = client(async () => {
      throw new TypeError('Failed to fetch')
    })
    const error = (await listJobs(api).catch((e: unknown) => e)) as ApiError
    expect(error.problem).toMatchObject({ title: 'Gateway unreachable', status: 0, detail: 'Failed to fetch' })
  })

  it('reports a 401 so the session can end', async () => {
    const onUnauthorized = vi.fn()
    const api = client(async () => problem(401, 'Unauthorized', 'token expired'), onUnauthorized)
    await expect(listJobs(api)).rejects.toThrow('Unauthorized: token expired')
    expect(onUnauthorized).toHaveBeenCalledOnce()
  })
})
