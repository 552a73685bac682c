// A job and its rounds, kept current by the job's server-sent events: each finished round is
// added as it arrives, and the job itself is re-read when its state changes.

import { computed, onScopeDispose, ref, shallowRef, watch, type Ref } from 'vue'
import { getJob, listRounds } from '../api/endpoints'
import { followJobEvents, FINAL_EVENTS, type JobEvent } from '../api/events'
import { asProblem, type Problem } from '../api/problem'
import { isFinal, type Job, type Round } from '../api/types'
import { useApi } from './context'

/** The job status each event means (the coordinator's state machine). */
export const STATUS_AFTER: Record<string, string> = {
  job_started: 'running',
  job_finished: 'completed',
  job_failed: 'failed',
  job_stopped: 'stopped',
}

/** pending < running < any final status: a job's status never goes back. */
export function statusRank(status: string): number {
  return status === 'pending' ? 0 : status === 'running' ? 1 : 2
}

export type LiveState = 'connecting' | 'live' | 'retrying' | 'ended' | 'offline'

/** A round_completed event's body in the shape of the rounds endpoint's answer. */
export function roundFromEvent(data: Record<string, unknown>): Round {
  return {
    number: Number(data.round),
    metrics: (data.metrics ?? {}) as Round['metrics'],
    duration_s: Number(data.duration_s ?? 0),
    bytes_sent: Number(data.bytes_sent ?? 0),
    bytes_received: Number(data.bytes_received ?? 0),
    participants: (data.participants ?? []) as string[],
    failures: (data.failures ?? {}) as Record<string, string>,
    participant_metrics: (data.participant_metrics ?? {}) as Round['participant_metrics'],
    checkpoint: (data.checkpoint as string | null | undefined) ?? null,
    checkpoint_sha256: (data.checkpoint_sha256 as string | null | undefined) ?? null,
  }
}

/** Rounds by number, later answers replacing earlier ones, in order. */
export function mergeRounds(current: readonly Round[], incoming: readonly Round[]): Round[] {
  const byNumber = new Map(current.map((round) => [round.number, round]))
  for (const round of incoming) byNumber.set(round.number, round)
  return [...byNumber.values()].sort((a, b) => a.number - b.number)
}

export function useJobLive(
  jobId: Ref<string>,
  onRoundsChanged?: () => void,
  onContributions?: () => void,
) {
  const api = useApi()
  const job = shallowRef<Job | null>(null)
  const rounds = shallowRef<Round[]>([])
  const problem = ref<Problem | null>(null)
  const live = ref<LiveState>('connecting')
  const liveProblem = ref<Problem | null>(null)
  let controller: AbortController | null = null

  /** Re-reads the job. The gateway reads the metrics service's read model, which may not
   * have applied an event this page has already seen: a job's status never goes back (a
   * running job never shows as pending, an ended one never as running), and the read is
   * retried until the read model agrees. */
  async function refreshJob(id: string, attempt = 0): Promise<void> {
    try {
      const fresh = await getJob(api, id)
      const known = job.value
      if (known && known.id === id && statusRank(fresh.status) < statusRank(known.status)) {
        if (attempt < 20) setTimeout(() => void refreshJob(id, attempt + 1), 500)
        return
      }
      job.value = fresh
      problem.value = null
    } catch (error) {
      problem.value = asProblem(error)
    }
  }

  async function refreshRounds(id: string) {
    try {
      rounds.value = mergeRounds(rounds.value, await listRounds(api, id))
      onRoundsChanged?.()
    } catch (error) {
      problem.value = asProblem(error)
    }
  }

  function onEvent(id: string, event: JobEvent) {
    if (event.type === 'round_completed') {
      rounds.value = mergeRounds(rounds.value, [roundFromEvent(event.data)])
      if (job.value && job.value.current_round < Number(event.data.round)) {
        job.value = { ...job.value, current_round: Number(event.data.round) }
      }
      onRoundsChanged?.()
    } else if (event.type === 'contributions_scored') {
      onContributions?.()
    } else if (event.type in STATUS_AFTER && job.value) {
      const status = STATUS_AFTER[event.type]
      const at = typeof event.data.at === 'number' ? new Date(event.data.at * 1000).toISOString() : null
      if (statusRank(status) >= statusRank(job.value.status)) {
        job.value = {
          ...job.value,
          status,
          reason: typeof event.data.reason === 'string' ? event.data.reason : job.value.reason,
          started_at: event.type === 'job_started' ? (at ?? job.value.started_at) : job.value.started_at,
          finished_at: isFinal(status) ? (at ?? job.value.finished_at) : job.value.finished_at,
          participants: Array.isArray(event.data.participants)
            ? (event.data.participants as string[])
            : job.value.participants,
        }
      }
      void refreshJob(id)
    } else {
      void refreshJob(id)
    }
    if (FINAL_EVENTS.has(event.type)) {
      live.value = 'ended'
      void refreshRounds(id) // the read model's rounds carry checkpoints too
    }
  }

  async function open(id: string) {
    controller?.abort()
    controller = new AbortController()
    const signal = controller.signal
    job.value = null
    rounds.value = []
    live.value = 'connecting'
    liveProblem.value = null
    await Promise.all([refreshJob(id), refreshRounds(id)])
    const loaded = job.value as Job | null // set by refreshJob above
    if (signal.aborted || loaded === null) return
    if (isFinal(loaded.status)) {
      live.value = 'ended'
      return
    }
    await followJobEvents(api, id, {
      signal,
      onOpen: () => {
        live.value = 'live'
        liveProblem.value = null
      },
      onEvent: (event) => onEvent(id, event),
      onError: (error, final) => {
        liveProblem.value = asProblem(error)
        live.value = final ? 'offline' : 'retrying'
      },
    })
  }

  watch(jobId, (id) => void open(id), { immediate: true })
  onScopeDispose(() => controller?.abort())

  return {
    job,
    rounds,
    problem,
    live,
    liveProblem,
    ended: computed(() => job.value !== null && isFinal(job.value.status)),
    refresh: () => Promise.all([refreshJob(jobId.value), refreshRounds(jobId.value)]),
  }
}
