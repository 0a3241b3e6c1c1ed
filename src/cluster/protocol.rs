//! What replicas say to each other: the channel, the training lock's key and
//! the JSON messages (a [`Change`] tagged with its sender).

use serde::{Deserialize, Serialize};

/// The LISTEN/NOTIFY channel.
pub const CHANNEL: &str = "courserec";
/// The advisory lock key: "coursere" in ASCII.
pub const TRAIN_LOCK: i64 = 0x636f_7572_7365_7265;

/// What one replica tells the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Model {
        version: i64,
    },
    Course {
        id: String,
    },
    /// Many courses changed at once (a bulk upload).
    Catalog,
    User {
        id: String,
    },
    UserErased {
        id: String,
    },
    Experiment,
    /// Merchandising rules changed.
    Rules,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    from: String,
    #[serde(flatten)]
    change: Change,
}

/// The payload of `change` sent by the replica `from`, e.g.
/// `{"from":"<uuid>","kind":"course","id":"c1"}`.
pub fn encode(from: &str, change: Change) -> String {
    serde_json::to_string(&Envelope {
        from: from.to_string(),
        change,
    })
    .expect("changes serialize")
}

/// Reads a payload: (sender, change).
pub fn decode(payload: &str) -> serde_json::Result<(String, Change)> {
    let env: Envelope = serde_json::from_str(payload)?;
    Ok((env.from, env.change))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_with_their_sender() {
        let payload = encode("a", Change::Course { id: "c1".into() });
        assert_eq!(payload, r#"{"from":"a","kind":"course","id":"c1"}"#);
        assert_eq!(
            decode(&payload).unwrap(),
            ("a".into(), Change::Course { id: "c1".into() })
        );
        let (_, c) = decode(r#"{"from":"b","kind":"catalog"}"#).unwrap();
        assert_eq!(c, Change::Catalog);
        assert!(decode(r#"{"from":"b","kind":"nonsense"}"#).is_err());
    }
}
