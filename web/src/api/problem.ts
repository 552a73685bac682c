// RFC 9457 problem details, as every gateway error is, and the error type the console throws.

export interface ValidationIssue {
  loc?: (string | number)[]
  msg: string
  type?: string
}

export interface Problem {
  type?: string
  title: string
  status: number
  detail?: string
  instance?: string | null
  /** 422: what was wrong with the input, field by field */
  errors?: ValidationIssue[]
  /** 503 from /ready: which service is down */
  checks?: Record<string, string>
}

/** An API call that did not succeed; `problem` says why, in the API's own words. */
export class ApiError extends Error {
  readonly problem: Problem

  constructor(problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title)
    this.name = 'ApiError'
    this.problem = problem
  }

  get status(): number {
    return this.problem.status
  }
}

function isProblem(value: unknown): value is Problem {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Record<string, unknown>
  return typeof candidate.title === 'string' && typeof candidate.status === 'number'
}

/** The problem an error response carries, or one made from its status when it has none. */
export async function problemFrom(response: Response): Promise<Problem> {
  const text = await response.text().catch(() => '')
  try {
    const body: unknown = JSON.parse(text)
    if (isProblem(body)) return body
    // FastAPI's plain {"detail": ...} from a service that predates problem details
    if (typeof body === 'object' && body !== null && 'detail' in body) {
      const detail = (body as { detail: unknown }).detail
      return {
        title: response.statusText || `HTTP ${response.status}`,
        status: response.status,
        detail: typeof detail === 'string' ? detail : JSON.stringify(detail),
      }
    }
  } catch {
    // not JSON: fall through
  }
  return {
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    detail: text.slice(0, 500) || undefined,
  }
}

/** The problem for a request that never got an answer (gateway down, network cut). */
export function unreachable(cause: unknown): Problem {
  return {
    type: 'about:blank#unreachable',
    title: 'Gateway unreachable',
    status: 0,
    detail: cause instanceof Error ? cause.message : String(cause),
  }
}

/** Any thrown value as a problem, for showing it in place. */
export function asProblem(error: unknown): Problem {
  if (error instanceof ApiError) return error.problem
  return { title: 'Unexpected error', status: 0, detail: error instanceof Error ? error.message : String(error) }
}
