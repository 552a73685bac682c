import { describe, expect, it } from 'vitest'
import { roundFromEvent } from '../composables/useJobLive'
import { bytesByRound, chartedMetrics, seriesByRound } from './chart'

const rounds = [
  roundFromEvent({ round: 0, metrics: { accuracy: 0.1, loss: 2.3, 'num-examples': 100 } }),
  roundFromEvent({ round: 1, metrics: { accuracy: 0.8, loss: 'NaN' } }),
  roundFromEvent({ round: 2, metrics: { accuracy: 0.9, loss: 0.3 } }),
]

describe('the chart', () => {
  it('plots accuracy on the left and loss on the right, not counts', () => {
    expect(chartedMetrics(rounds)).toEqual([
      { name: 'accuracy', axis: 'y' },
      { name: 'loss', axis: 'y1' },
    ])
  })

  it('leaves a gap for a NaN or missing value', () => {
    expect(seriesByRound(rounds, 'loss')).toEqual([2.3, null, 0.3])
  })

  it('plots the bytes of each round', () => {
    const traffic = rounds.map((round, i) => ({ ...round, bytes_sent: 100 * i, bytes_received: 10 * i }))
    expect(bytesByRound(traffic)).toEqual({ sent: [0, 100, 200], received: [0, 10, 20] })
  })
})
