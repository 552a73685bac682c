import { describe, expect, it } from 'vitest'
import { ApiClient } from './client'
import { followJobEvents, type JobEvent } from './events'

function sse(...events: [number, string, object][]): string {
  return events.map(([id, type, data]) => `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`).join('')
}

describe('followJobEvents', () => {
  it('resumes after a dropped stream with Last-Event-ID and stops at the final event', async () => {
    const bodies = [
      sse([3, 'job_started', { participants: ['a'] }], [4, 'round_completed', { round: 1 }]),
      sse([4, 'round_completed', { round: 1 }], [5, 'round_completed', { round: 2 }], [6, 'job_finished', { rounds: 2 }]),
    ]
    const resumedFrom: (string | undefined)[] = []
    const api = new ApiClient({
      baseUrl: '/api/v1',
      token: () => 't',
      fetch: (async (_url: string, init?: RequestInit) => {
        resumedFrom.push((init?.headers as Record<string, string>)['Last-Event-ID'])
        return new Response(bodies.shift()!, { headers: { 'Content-Type': 'text/event-stream' } })
      }) as typeof fetch,
    })
    const seen: JobEvent[] = []
    const errors: unknown[] = []
    await followJobEvents(api, 'job-1', {
      signal: new AbortController().signal,
      retryMs: 1,
      onEvent: (event) => seen.push(event),
      onError: (error) => errors.push(error),
    })
    expect(resumedFrom).toEqual([undefined, '4'])
    expect(seen.map((event) => [event.sequence, event.type])).toEqual([
      [3, 'job_started'],
      [4, 'round_completed'],
      [5, 'round_completed'],
      [6, 'job_finished'],
    ])
    expect(errors).toEqual([])
  })

  it('gives up at once on a 404', async () => {
    const api = new ApiClient({
      baseUrl: '/api/v1',
      token: () => 't',
      fetch: (async () =>
        new Response(JSON.stringify({ title: 'Not Found', status: 404, detail: 'no job x' }), {
          status: 404,
        })) as typeof fetch,
    })
    const finals: boolean[] = []
    await followJobEvents(api, 'x', {
      signal: new AbortController().signal,
      retryMs: 1,
      onEvent: () => undefined,
      onError: (_error, final) => finals.push(final),
    })
    expect(finals).toEqual([true])
  })
})
