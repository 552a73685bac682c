// Vertical federated learning (the built-in task fraud-vertical): a label holder (the bank) and
// feature parties (shops) align their shared customers with private set intersection and train
// a split neural network. The coordinator relays noised embeddings and gradients but holds no
// model, so the horizontal panels (privacy budget, contributions, personalization) and the
// model download do not apply. What the panel shows is read from the job's metrics.

import type { Job } from '../api/types'
import { metricNumber } from '../format'

export const VERTICAL_TASK = 'fraud-vertical'

/** The run config keys a vertical job takes, with the coordinator's defaults. */
export const VERTICAL_DEFAULTS = {
  'batch-size': 256,
  'learning-rate': 0.03,
  'embedding-noise': 0.3,
  'gradient-noise': 0.3,
  'test-fraction': 0.2,
} as const

type Metrics = Record<string, unknown> | null | undefined

export function isVerticalTask(task: string | null | undefined): boolean {
  return (task ?? '').trim() === VERTICAL_TASK
}

/** A vertical job: its task (or its participants' task) is fraud-vertical, or its metrics
 * report a PSI intersection. */
export function isVerticalJob(
  job: { task?: string | null; client_task?: string | null; metrics?: Metrics } | Job | null | undefined,
): boolean {
  if (!job) return false
  if (isVerticalTask(job.task) || isVerticalTask(job.client_task)) return true
  return job.metrics != null && 'intersection_size' in job.metrics
}

export type CountRow = { id: 'intersection' | 'trainRows' | 'testRows' | 'parties'; kind: 'count'; value: number }
export type AucRow = { id: 'auc' | 'aloneAuc'; kind: 'auc'; value: number }
/** the vertical model's AUC minus the label holder alone's */
export type GainRow = { id: 'gain'; kind: 'gain'; value: number }
export type ProtectionRow = {
  /** embeddings protect one customer's features, gradients its label */
  id: 'embeddings' | 'gradients'
  kind: 'protection'
  /** Gaussian noise multiplier, relative to the clip norm; null when not reported */
  noise: number | null
  /** epsilon at delta over the job so far; null when absent */
  epsilon: number | null
  delta: number | null
  /** false when the noise is 0 or no epsilon was reported: no formal DP guarantee */
  guarantee: boolean
}
export type VerticalRow = CountRow | AucRow | GainRow | ProtectionRow

/** The rows the vertical panel shows, in order; a metric the job has not reported is left out
 * (the protection rows are always there once anything is reported). */
export function verticalRows(metrics: Metrics): VerticalRow[] {
  const values = metrics ?? {}
  const get = (key: string) => metricNumber(values[key])
  const rows: VerticalRow[] = []
  const counts = [
    ['intersection', 'intersection_size'],
    ['trainRows', 'train_rows'],
    ['testRows', 'test_rows'],
    ['parties', 'parties'],
  ] as const
  for (const [id, key] of counts) {
    const value = get(key)
    if (value !== null) rows.push({ id, kind: 'count', value })
  }
  const auc = get('auc')
  const alone = get('label_holder_alone_auc')
  if (auc !== null) rows.push({ id: 'auc', kind: 'auc', value: auc })
  if (alone !== null) rows.push({ id: 'aloneAuc', kind: 'auc', value: alone })
  if (auc !== null && alone !== null) rows.push({ id: 'gain', kind: 'gain', value: auc - alone })
  if (rows.length === 0 && Object.keys(values).length === 0) return rows
  const delta = get('delta')
  for (const [id, prefix] of [
    ['embeddings', 'embedding'],
    ['gradients', 'gradient'],
  ] as const) {
    const noise = get(`${prefix}_noise`)
    const epsilon = get(`${prefix}_epsilon`)
    rows.push({
      id,
      kind: 'protection',
      noise,
      epsilon,
      delta,
      guarantee: noise !== null && noise > 0 && epsilon !== null && delta !== null,
    })
  }
  return rows
}

/** A number as short as it reads well: 0.3 -> "0.3", 1e-5 -> "0.00001", 0.123456 -> "0.123". */
export function shortNumber(value: number): string {
  return String(Number(value.toPrecision(3)))
}

/** An AUC difference with its sign: 0.0834 -> "+0.083", -0.01 -> "-0.010". */
export function signedAuc(value: number): string {
  const text = value.toFixed(3)
  return value > 0 && text !== '0.000' ? `+${text}` : text === '-0.000' ? '0.000' : text
}
