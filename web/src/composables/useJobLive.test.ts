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
