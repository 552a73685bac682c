// What a job asked for beyond its strategy, read from its run config: how updates are
// aggregated (aggregation, secure-aggregation), update compression (compression.* keys, checked
// by the coordinator) and personalization (personalize-epochs).

/** plain: the coordinator sees each update; secagg+: only their sum; he-ckks: only ciphertexts */
export type Aggregation = 'plain' | 'secagg+' | 'he-ckks'
export const AGGREGATIONS: readonly Aggregation[] = ['plain', 'secagg+', 'he-ckks']
/** each aggregation's messages under job.aggregation (its name) and job.aggregation.notice */
export const AGGREGATION_MESSAGES: Record<Aggregation, string> = { plain: 'plain', 'secagg+': 'secagg', 'he-ckks': 'heCkks' }
/** the strategies a he-ckks job runs with: the coordinator can only form a weighted sum */
export const HE_STRATEGIES: readonly string[] = ['FedAvg', 'FedProx']

export type UplinkCodec = 'none' | 'q8' | 'topk'
export type DownlinkCodec = 'none' | 'q8'

export interface CompressionSetting {
  up: UplinkCodec
  down: DownlinkCodec
  /** the share of each tensor top-k keeps (the coordinator's default is 0.01) */
  topkFraction: number
  /** top-k's kept values quantized to 8 bits too */
  topkQ8: boolean
  /** participants keep what compression dropped and add it to their next update */
  errorFeedback: boolean
}

const TOPK_FRACTION_DEFAULT = 0.01

type RunConfig = Record<string, unknown> | null | undefined

function flag(value: unknown, fallback: boolean): boolean {
  if (typeof value === 'boolean') return value
  if (typeof value === 'number') return value !== 0
  if (typeof value === 'string') return ['true', '1', 'yes'].includes(value.toLowerCase())
  return fallback
}

function positive(value: unknown, fallback: number): number {
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN
  return Number.isFinite(number) && number > 0 ? number : fallback
}

/** The job's compression, or null when neither direction is compressed. */
export function compressionOf(runConfig: RunConfig): CompressionSetting | null {
  const config = runConfig ?? {}
  const up = String(config['compression.up'] ?? 'none') as UplinkCodec
  const down = String(config['compression.down'] ?? 'none') as DownlinkCodec
  if (up === 'none' && down === 'none') return null
  return {
    up,
    down,
    topkFraction: positive(config['compression.topk-fraction'], TOPK_FRACTION_DEFAULT),
    topkQ8: flag(config['compression.topk-q8'], false),
    errorFeedback: flag(config['compression.error-feedback'], true),
  }
}

/** The job's aggregation: run config aggregation, with secure-aggregation = true read as SecAgg+. */
export function aggregationOf(runConfig: RunConfig): Aggregation {
  const config = runConfig ?? {}
  if (flag(config['secure-aggregation'], false)) return 'secagg+'
  const mode = String(config.aggregation ?? 'plain').trim().toLowerCase()
  return (AGGREGATIONS as readonly string[]).includes(mode) ? (mode as Aggregation) : 'plain'
}

/** The job's personalize-epochs; 0 when it did not ask for personalization. */
export function personalizeEpochs(runConfig: RunConfig): number {
  const value = Number((runConfig ?? {})['personalize-epochs'] ?? 0)
  return Number.isFinite(value) && value > 0 ? Math.floor(value) : 0
}

type Translate = (key: string, values: Record<string, unknown>) => string

/** A share as people read it: 0.05 -> "5%", 0.0005 -> "0.05%". */
export function formatShare(fraction: number): string {
  return `${Number((fraction * 100).toPrecision(3))}%`
}

/** One line for a person: "up: top-k 5% + error feedback; down: 8-bit". */
export function describeCompression(setting: CompressionSetting | null, t: Translate): string {
  if (setting === null) return t('job.compression.none', {})
  let up =
    setting.up === 'topk'
      ? t(setting.topkQ8 ? 'job.compression.topkQ8' : 'job.compression.topk', { share: formatShare(setting.topkFraction) })
      : setting.up === 'q8'
        ? t('job.compression.q8', {})
        : t('job.compression.uncompressed', {})
  if (setting.up !== 'none' && setting.errorFeedback) up = t('job.compression.feedback', { codec: up })
  const down = setting.down === 'q8' ? t('job.compression.q8', {}) : t('job.compression.uncompressed', {})
  return t('job.compression.line', { up, down })
}
