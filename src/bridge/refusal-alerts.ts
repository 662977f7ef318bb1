/**
 * Alerts for decisions a safety rule refused: one per rule per minute at most, saying how many
 * were refused since the last one, so a flood of refusals pages once rather than once each.
 */
import type { AlertSeverity, AlertSink } from '../alerts/alerts';
import type { Refusal, RefusalRule } from './intake-safety';

/** Alert severity per refusal rule: a forged or conflicting decision pages someone. */
const REFUSAL_SEVERITY: Record<RefusalRule, AlertSeverity> = {
  unauthenticated: 'critical',
  conflict: 'critical',
  expired: 'warning',
  future: 'warning',
  halted: 'info',
};
/** One alert per rule per minute at most; it says how many were refused since the last one. */
const REFUSAL_ALERT_COOLDOWN_MS = 60_000;

export class RefusalAlerts {
  /** Refusals per rule since the last alert raised for that rule. */
  private readonly refusedSinceAlert = new Map<RefusalRule, number>();

  constructor(
    private readonly alerts: AlertSink,
    /** Named in each alert: where the refused entries are. */
    private readonly deadLetterStream: string,
  ) {}

  /** Counts the refusal and raises (in the background) the rule's alert unless it is cooling down. */
  refused(refusal: Refusal, ids: { decisionId: string; entryId: string }): void {
    const count = (this.refusedSinceAlert.get(refusal.rule) ?? 0) + 1;
    this.refusedSinceAlert.set(refusal.rule, count);
    void this.alerts
      .raise({
        kind: 'decision_refused',
        severity: REFUSAL_SEVERITY[refusal.rule],
        message: `${count} decision${count === 1 ? '' : 's'} refused (${refusal.rule}) since the last such alert; latest: ${refusal.reason}`,
        detail: { rule: refusal.rule, count, decisionId: ids.decisionId, entryId: ids.entryId, deadLetterStream: this.deadLetterStream },
        dedupeKey: `decision_refused:${refusal.rule}`,
        cooldownMs: REFUSAL_ALERT_COOLDOWN_MS,
      })
      .then((result) => {
        if (result.raised) this.refusedSinceAlert.set(refusal.rule, (this.refusedSinceAlert.get(refusal.rule) ?? count) - count);
      });
  }
}
