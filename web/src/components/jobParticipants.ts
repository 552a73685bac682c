// What each participant of a job did, from the rounds' per-participant reports.

import type { Round } from '../api/types'
import { metricNumber } from '../format'

export interface ParticipantSummary {
  id: string
  samples: number | null
  rounds: number
  lastLoss: number | null
}

const SAMPLE_KEYS = ['num-examples', 'num_examples']

export function summariseParticipants(ids: readonly string[], rounds: readonly Round[]): ParticipantSummary[] {
  const all = new Set(ids)
  for (const round of rounds) for (const id of round.participants) all.add(id)
  return [...all].sort().map((id) => {
    let samples: number | null = null
    let lastLoss: number | null = null
    let taken = 0
    for (const round of rounds) {
      if (round.participants.includes(id)) taken += 1
      const reported = round.participant_metrics?.[id]
      if (!reported) continue
      for (const key of SAMPLE_KEYS) samples = metricNumber(reported[key]) ?? samples
      const lossKey = Object.keys(reported).find((key) => /loss/i.test(key))
      if (lossKey) lastLoss = metricNumber(reported[lossKey]) ?? lastLoss
    }
    return { id, samples, rounds: taken, lastLoss }
  })
}
