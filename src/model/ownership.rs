//! Ownership of one course by one learner, from their purchases and refunds
//! in time order: a refund cancels only an earlier purchase, and the latest
//! word wins. The one rule behind training, fold-in, audience exclusion,
//! profile spend, experiment conversions and campaign conversions.

/// A purchase or a refund of one course by one learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Payment {
    Purchase,
    Refund,
}

/// One payment event: what happened and when (ms since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentEvent {
    pub ts_ms: i64,
    pub kind: Payment,
}

/// Where a (learner, course) pair stands after its payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ownership {
    /// The learner owns the course now.
    pub owned: bool,
    /// Net spend on the course in cents: its price while owned, else 0.
    /// A purchase repeated while owned is a client retry, not a second sale,
    /// so the spend per (learner, course) never exceeds one price.
    pub net_spend_cents: i64,
    /// At least one purchase was later cancelled by a refund.
    pub refunded: bool,
    /// Time of the purchase that made the course owned (`None` if not owned):
    /// the first purchase after the latest refund.
    pub since_ms: Option<i64>,
}

/// Ownership after `events`, in any order: they are put in time order
/// first, and at equal times a purchase comes before a refund (a refund
/// can only answer a purchase made at or before it).
///
/// Rules, applied in that order: a purchase makes the course owned (a
/// purchase while owned changes nothing); a refund while owned cancels it;
/// a refund with nothing to cancel is ignored. So the course is owned
/// exactly when the latest payment is a purchase. `price_cents` is the
/// course's price, what an owned course counts as spend.
///
/// ```
/// use courserec::model::ownership::{ownership, Payment::*, PaymentEvent};
/// let ev = |ts_ms, kind| PaymentEvent { ts_ms, kind };
/// // Refund on 1 November, purchase on 5 November: owned.
/// assert!(ownership(&[ev(5, Purchase), ev(1, Refund)], 900).owned);
/// // Purchase, then refund: not owned, nothing spent.
/// let o = ownership(&[ev(1, Purchase), ev(5, Refund)], 900);
/// assert!(!o.owned && o.refunded && o.net_spend_cents == 0);
/// ```
pub fn ownership(events: &[PaymentEvent], price_cents: i64) -> Ownership {
    let mut ordered = events.to_vec();
    ordered.sort_by_key(|e| (e.ts_ms, e.kind));
    let mut out = Ownership::default();
    for e in ordered {
        match (e.kind, out.since_ms) {
            (Payment::Purchase, None) => out.since_ms = Some(e.ts_ms),
            (Payment::Purchase, Some(_)) => {}
            (Payment::Refund, Some(_)) => {
                out.since_ms = None;
                out.refunded = true;
            }
            (Payment::Refund, None) => {}
        }
    }
    out.owned = out.since_ms.is_some();
    out.net_spend_cents = if out.owned { price_cents.max(0) } else { 0 };
    out
}

/// [`ownership`] when only the latest purchase and latest refund times are
/// known (per-type aggregates): the latest word decides, so they suffice
/// for `owned` and `net_spend_cents`. `refunded` is true when the latest
/// refund answers a purchase; `since_ms` is then a lower bound.
pub fn ownership_from_latest(
    last_purchase_ms: Option<i64>,
    last_refund_ms: Option<i64>,
    price_cents: i64,
) -> Ownership {
    let events: Vec<PaymentEvent> = [
        last_purchase_ms.map(|ts_ms| PaymentEvent {
            ts_ms,
            kind: Payment::Purchase,
        }),
        last_refund_ms.map(|ts_ms| PaymentEvent {
            ts_ms,
            kind: Payment::Refund,
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    ownership(&events, price_cents)
}

#[cfg(test)]
mod tests {
    use super::Payment::*;
    use super::*;

    fn ev(ts_ms: i64, kind: Payment) -> PaymentEvent {
        PaymentEvent { ts_ms, kind }
    }

    #[test]
    fn the_latest_word_wins() {
        // Refund then purchase: owned since the purchase.
        let o = ownership(&[ev(1, Refund), ev(5, Purchase)], 1000);
        assert_eq!(
            (o.owned, o.net_spend_cents, o.refunded, o.since_ms),
            (true, 1000, false, Some(5))
        );
        // Purchase then refund: not owned.
        let o = ownership(&[ev(1, Purchase), ev(5, Refund)], 1000);
        assert_eq!(
            (o.owned, o.net_spend_cents, o.refunded, o.since_ms),
            (false, 0, true, None)
        );
        // Bought, refunded, bought again: owned once.
        let o = ownership(&[ev(1, Purchase), ev(2, Refund), ev(3, Purchase)], 1000);
        assert_eq!((o.owned, o.net_spend_cents, o.refunded), (true, 1000, true));
        // A refund of nothing is ignored; no events own nothing.
        assert!(!ownership(&[ev(1, Refund)], 1000).refunded);
        assert_eq!(ownership(&[], 1000), Ownership::default());
    }

    #[test]
    fn retries_count_once_and_ties_go_to_the_refund() {
        let retries: Vec<PaymentEvent> = (0..25).map(|t| ev(t, Purchase)).collect();
        let o = ownership(&retries, 1000);
        assert_eq!((o.net_spend_cents, o.since_ms), (1000, Some(0)));
        // One refund after 25 retried purchases cancels the one sale.
        let mut with_refund = retries.clone();
        with_refund.push(ev(30, Refund));
        assert!(!ownership(&with_refund, 1000).owned);
        assert!(!ownership(&[ev(7, Refund), ev(7, Purchase)], 1000).owned);
        // Input order does not matter.
        assert!(ownership(&[ev(9, Purchase), ev(3, Refund)], 1000).owned);
    }

    #[test]
    fn latest_times_agree_with_the_full_history() {
        for (p, r, owned) in [
            (Some(5), Some(1), true),
            (Some(1), Some(5), false),
            (Some(5), None, true),
            (None, Some(5), false),
            (None, None, false),
            (Some(4), Some(4), false),
        ] {
            assert_eq!(ownership_from_latest(p, r, 500).owned, owned, "{p:?} {r:?}");
        }
        assert!(ownership_from_latest(Some(1), Some(5), 500).refunded);
        assert!(!ownership_from_latest(None, Some(5), 500).refunded);
    }
}
