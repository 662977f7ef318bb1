/**
 * The failure types activities throw and workflows read, in one place, each with what it means
 * for the next step. Pure (no imports): workflow code uses it inside the sandbox.
 *
 * "Non-retryable" is about the activity's own retry policy; what the workflow does next is
 * written beside each type.
 */
export const FailureType = {
  /** Our own copy of the exchange's filters refused the order before anything was sent. The trade ends `rejected`. */
  OrderRejected: 'OrderRejected',
  /** The pre-trade risk guard refused the order before anything was sent. The trade ends `rejected`, naming the rule. */
  RiskRefused: 'RiskRefused',
  /**
   * The exchange refused a request, and no earlier send of the same intent can have landed: the
   * refusal is the order's fate. (A refusal after an unknown outcome is never this type.)
   */
  ExchangeRejected: 'ExchangeRejected',
  /** The decision cannot be executed at all (HOLD, reject). Never retried. */
  InvalidDecision: 'InvalidDecision',
  /** The books refused fills (a position conflict). Never retried: a person must look. */
  BooksRejectedFills: 'BooksRejectedFills',
  /** An operator request could not be carried out; the update answers with this. */
  OperationFailed: 'OperationFailed',
  /** The exchange does not (yet) show an order we know it accepted. Retried. */
  OrderNotFound: 'OrderNotFound',
  /** The request may or may not have reached the exchange. Retried: the next attempt settles first. */
  ExchangeUnknownOutcome: 'ExchangeUnknownOutcome',
  /**
   * An attempt refused to send because it may no longer be the current one (its timeout is near
   * or passed, it was cancelled, or it stalled past its heartbeat). Retried: the next attempt
   * settles what this one may have sent before it sends.
   */
  AttemptSuperseded: 'AttemptSuperseded',
  /** The exchange asked us to wait (429, 5xx without execution, -1021 after a resync). Retried with its delay. */
  ExchangeRetryLater: 'ExchangeRetryLater',
  /** HTTP 418. Retried after the ban. */
  ExchangeBanned: 'ExchangeBanned',
  /** Anything else from the exchange layer (transport). Retried. */
  ExchangeError: 'ExchangeError',
} as const;
export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

/** Types no retry of a submission can fix; the workflow decides what follows. */
export const SUBMISSION_NON_RETRYABLE: readonly FailureTypeName[] = [
  FailureType.OrderRejected,
  FailureType.RiskRefused,
  FailureType.InvalidDecision,
  FailureType.ExchangeRejected,
];

/** Reads and cancels retry through everything but a malformed request of our own. */
export const READ_NON_RETRYABLE: readonly FailureTypeName[] = [FailureType.InvalidDecision];

/** Bookkeeping retries until Postgres and Redis accept it, except a conflict a person must resolve. */
export const BOOKKEEPING_NON_RETRYABLE: readonly FailureTypeName[] = [FailureType.InvalidDecision, FailureType.BooksRejectedFills];
