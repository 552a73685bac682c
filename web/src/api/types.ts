// The API's types, generated from the gateway's OpenAPI document (npm run api-types).

import type { components } from './schema'

type Schemas = components['schemas']

export type JobCreate = Schemas['JobCreate']
export type Job = Schemas['JobPublic']
export type Round = Schemas['RoundPublic']
export type PrivacyReport = Schemas['PrivacyReport']
export type ParticipantPrivacy = Schemas['ParticipantPrivacy']
export type PersonalizationReport = Schemas['PersonalizationReport']
export type ParticipantPersonalization = Schemas['ParticipantPersonalization']
export type Participant = Schemas['ParticipantPublic']
export type ParticipantDetail = Schemas['ParticipantDetail']
export type ParticipantCreate = Schemas['ParticipantCreate']
export type EnrollmentTokenIssued = Schemas['EnrollmentTokenIssued']
export type RevocationResult = Schemas['RevocationResult']
export type AuditEntry = Schemas['AuditEntryPublic']
export type AuditVerification = Schemas['AuditVerification']
export type LoginResponse = Schemas['LoginResponse']
export type Operator = Schemas['OperatorPublic']

export type Contributions = Schemas['JobContributions']
export type Contribution = Schemas['ParticipantContribution']
export type LedgerEntry = Schemas['LedgerEntry']

export const FINAL_STATUSES = ['completed', 'failed', 'stopped'] as const

export function isFinal(status: string): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(status)
}
