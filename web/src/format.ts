// Numbers as people read them.

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB']

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '–'
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000
    unit += 1
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`
}

/** A metric value: NaN and infinities (sent as strings by the API) shown as such. */
export function metricNumber(value: unknown): number | null {
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN
  return Number.isFinite(number) ? number : null
}

export function formatMetric(value: unknown, digits = 3): string {
  const number = metricNumber(value)
  return number === null ? String(value ?? '–') : number.toFixed(digits)
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '–'
  return seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(1)
}
