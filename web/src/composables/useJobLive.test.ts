import { describe, expect, it } from 'vitest'
import type { Round } from '../api/types'
import { mergeRounds, roundFromEvent } from './useJobLive'

const round = (number: number, accuracy: number): Round =>
  roundFromEvent({ round: number, metrics: { accuracy }, duration_s: 1, bytes_sent: 10, bytes_received: 5 })

describe('rounds from events', () => {
  it('take the shape of the rounds endpoint', () => {
    const r = roundFromEvent({ round: 2, metrics: { loss: 0.5 }, duration_s: 1.5, bytes_sent: 7, bytes_received: 3, participants: ['a'] })
    expect(r).toMatchObject({ number: 2, metrics: { loss: 0.5 }, participants: ['a'], failures: {}, checkpoint: null })
  })

  it('merge by number, in order, later answers winning (a replay adds nothing twice)', () => {
    const merged = mergeRounds([round(1, 0.5), round(0, 0.1)], [round(2, 0.7), round(1, 0.55)])
    expect(merged.map((r) => [r.number, r.metrics.accuracy])).toEqual([
      [0, 0.1],
      [1, 0.55],
      [2, 0.7],
    ])
  })
})

describe('useJobLive', () => {
  it('adds rounds from the stream and never shows a job in an earlier state again', async () => {
    const { defineComponent, h, ref } = await import('vue')
    const { flushPromises } = await import('@vue/test-utils')
    const { json, setup } = await import('../testing/mount')
    const { useJobLive } = await import('./useJobLive')
    const pending = { id: 'j1', name: '', status: 'pending', current_round: 0, rounds: 1, reason: '', participants: [] }
    const stream =
      'id: 6\nevent: job_started\ndata: {"participants": ["a", "b"], "at": 1699999999}\n\n' +
      'id: 7\nevent: round_completed\ndata: {"round": 1, "metrics": {"accuracy": 0.9}, "duration_s": 1, "bytes_sent": 1, "bytes_received": 1}\n\n' +
      'id: 8\nevent: job_finished\ndata: {"rounds": 1, "duration_s": 2, "at": 1700000000}\n\n'
    const fetch = async (url: string) => {
      if (url.endsWith('/events')) return new Response(stream, { headers: { 'Content-Type': 'text/event-stream' } })
      if (url.endsWith('/rounds')) return json([])
      return json(pending) // the read model has not caught up with any event
    }
    let live: ReturnType<typeof useJobLive> | undefined
    const Harness = defineComponent({
      setup() {
        live = useJobLive(ref('j1'))
        return () => h('div')
      },
    })
    setup(fetch).mount(Harness)
    await flushPromises()
    await new Promise((resolve) => setTimeout(resolve, 50))
    await flushPromises()
    expect(live!.rounds.value.map((r) => r.number)).toEqual([1])
    expect(live!.job.value?.status).toBe('completed')
    expect(live!.job.value?.current_round).toBe(1)
    expect(live!.job.value?.finished_at).toBe(new Date(1_700_000_000_000).toISOString())
    expect(live!.job.value?.participants).toEqual(['a', 'b'])
    expect(live!.job.value?.started_at).toBe(new Date(1_699_999_999_000).toISOString())
    expect(live!.live.value).toBe('ended')
  })
})
