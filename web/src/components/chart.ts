// Chart.js, registered once with only the parts the console draws (line charts by round).

import {
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js'
import type { Round } from '../api/types'
import { metricNumber } from '../format'

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip, Filler)

/** The global-model metrics worth a line: accuracy-like on the left, loss-like on the right. */
export function chartedMetrics(rounds: readonly Round[]): { name: string; axis: 'y' | 'y1' }[] {
  const names = new Set<string>()
  for (const round of rounds) for (const name of Object.keys(round.metrics)) names.add(name)
  const picked = [...names].filter((name) => /acc|auc|f1|loss/i.test(name)).sort()
  return picked.map((name) => ({ name, axis: /loss/i.test(name) ? 'y1' : 'y' }))
}

/** One series per metric, a point per round (null where a round lacks the value). */
export function seriesByRound(rounds: readonly Round[], metric: string): (number | null)[] {
  return rounds.map((round) => metricNumber(round.metrics[metric]))
}

export const PALETTE = ['#1f6feb', '#d1242f', '#1a7f37', '#8250df', '#bf8700', '#0a7ea4']

/** The bytes the coordinator sent and received in each round, for the traffic chart. */
export function bytesByRound(rounds: readonly Round[]): { sent: number[]; received: number[] } {
  return {
    sent: rounds.map((round) => round.bytes_sent),
    received: rounds.map((round) => round.bytes_received),
  }
}
