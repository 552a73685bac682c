// A job's live events over server-sent events, with the operator's bearer token (which the
// browser's EventSource cannot send), parsed by eventsource-parser. A dropped connection is
// reopened with Last-Event-ID, so the gateway resumes right after the last event seen.

import { EventSourceParserStream, type EventSourceMessage } from 'eventsource-parser/stream'
import type { ApiClient } from './client'
import { ApiError } from './problem'

export interface JobEvent {
  /** position in the event stream (the SSE id) */
  sequence: number
  type: string
  data: Record<string, unknown>
}

export const FINAL_EVENTS = new Set(['job_finished', 'job_failed', 'job_stopped'])

export interface StreamOptions {
  onEvent: (event: JobEvent) => void
  /** the stream dropped and will be retried (or, with `final`, gave up) */
  onError?: (error: unknown, final: boolean) => void
  onOpen?: () => void
  signal: AbortSignal
  retryMs?: number
  maxRetries?: number
}

function toEvent(message: EventSourceMessage): JobEvent | null {
  if (!message.id || !message.event) return null
  try {
    return { sequence: Number(message.id), type: message.event, data: JSON.parse(message.data) }
  } catch {
    return null
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    })
  })

/** Follows the job's events until its final event, the signal aborts, or retries run out. */
export async function followJobEvents(api: ApiClient, jobId: string, options: StreamOptions): Promise<void> {
  const { signal, retryMs = 1000, maxRetries = 30 } = options
  let lastSequence = 0
  let failures = 0
  while (!signal.aborted) {
    try {
      const headers = api.headers({ Accept: 'text/event-stream' })
      if (lastSequence > 0) headers['Last-Event-ID'] = String(lastSequence)
      const response = await api.send(`/jobs/${encodeURIComponent(jobId)}/events`, { headers, signal })
      options.onOpen?.()
      failures = 0
      const reader = response
        .body!.pipeThrough(new TextDecoderStream())
        .pipeThrough(new EventSourceParserStream())
        .getReader()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        const event = toEvent(value)
        if (!event || event.sequence <= lastSequence) continue
        lastSequence = event.sequence
        options.onEvent(event)
        if (FINAL_EVENTS.has(event.type)) return
      }
    } catch (error) {
      if (signal.aborted) return
      // a 4xx will not heal by retrying (401, 404); anything else may
      const permanent = error instanceof ApiError && error.status >= 400 && error.status < 500
      failures += 1
      const final = permanent || failures > maxRetries
      options.onError?.(error, final)
      if (final) return
    }
    await sleep(retryMs * Math.min(failures || 1, 5), signal)
  }
}
