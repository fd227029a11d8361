//! The version choice: each kind is written at the lowest version any live server reads, never below one version
//! back. Pure, so it is tested on its own; [`super::advert`] feeds it from the store.

use crate::stored::KindVersions;
use std::collections::BTreeMap;

/// How long a server's advertisement counts after it was written (seconds): five share periods, so a live server
/// never drops out between two of its writes, and a dead one stops holding writes back soon after.
pub const EXPIRY_SECONDS: f64 = 10.0;

/// What a live server of the release before advertisements existed reads, for the kinds whose version changed
/// since (every other kind: the version this build writes). That release wrote tasks at version 2.
pub const BASELINE: &[(&str, u32)] = &[("task", 2)];

/// One server's advertisement (`/servers/schema/<id>`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Advert {
    /// The server's id.
    pub server: String,
    /// When it wrote the advertisement (its clock, seconds).
    pub at: f64,
    /// The newest version of each record kind it reads (kinds named as in [`crate::stored::KINDS`]).
    pub reads: BTreeMap<String, u32>,
}

/// A live server whose reads hold a kind's writes below this build's newest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The server's id.
    pub server: String,
    /// The kind.
    pub kind: &'static str,
    /// The newest version of it that server reads.
    pub reads: u32,
}

/// The outcome: what to write each kind at, who holds writes back, and who is too old to be served at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choice {
    /// The version to write each kind at.
    pub writes: BTreeMap<&'static str, u32>,
    /// Live servers reading less than this build's newest version of a kind (writes follow them).
    pub held_by: Vec<Holder>,
    /// Live servers reading less than this build can write at all (two releases behind: they will quarantine
    /// what this server writes; upgrade them first).
    pub too_old: Vec<Holder>,
}

/// What is known of the other servers.
#[derive(Debug, Clone, Copy)]
pub struct Peers<'a> {
    /// Every advertisement in the store (this server's own among them or not).
    pub adverts: &'a [Advert],
    /// Live servers with no advertisement (of the release before advertisements).
    pub silent: &'a [String],
}

/// Chooses the version of each of `kinds` to write, given what this server reads (`own`), the other servers, and
/// the time now.
pub fn choose(kinds: &[KindVersions], own: &BTreeMap<&'static str, u32>, peers: Peers<'_>, now: f64) -> Choice {
    let live: Vec<&Advert> = peers.adverts.iter().filter(|a| now - a.at <= EXPIRY_SECONDS).collect();
    let mut choice = Choice::default();
    for KindVersions { kind, schema, oldest_written: lowest } in kinds {
        let (kind, schema, lowest) = (*kind, *schema, *lowest);
        let mut version = own.get(kind).copied().unwrap_or(schema).min(schema);
        let baseline = BASELINE.iter().find(|(k, _)| *k == kind).map_or(schema, |(_, v)| *v);
        let others = live
            .iter()
            // A kind an advertisement does not name is newer than that server: it never reads its keys.
            .filter_map(|a| a.reads.get(kind).map(|r| (a.server.clone(), *r)))
            .chain(peers.silent.iter().map(|s| (s.clone(), baseline)));
        for (server, reads) in others {
            if reads >= schema {
                continue;
            }
            let holder = Holder { server, kind, reads };
            if reads < lowest {
                // It cannot read what this build writes either way: the oldest this build can write is the closest.
                choice.too_old.push(holder);
                version = lowest;
            } else {
                choice.held_by.push(holder);
                version = version.min(reads);
            }
        }
        choice.writes.insert(kind, version.max(lowest));
    }
    choice
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: &[KindVersions] = &[
        KindVersions { kind: "task", schema: 3, oldest_written: 2 },
        KindVersions { kind: "cluster", schema: 2, oldest_written: 2 },
        KindVersions { kind: "family", schema: 1, oldest_written: 1 },
    ];

    fn own(task: u32) -> BTreeMap<&'static str, u32> {
        [("task", task), ("cluster", 2), ("family", 1)].into()
    }

    fn advert(server: &str, at: f64, task: u32) -> Advert {
        Advert {
            server: server.into(),
            at,
            reads: [("task".to_string(), task), ("cluster".to_string(), 2), ("family".to_string(), 1)].into(),
        }
    }

    fn writes(choice: &Choice) -> Vec<(&'static str, u32)> {
        choice.writes.iter().map(|(k, v)| (*k, *v)).collect()
    }

    #[test]
    fn each_kind_is_written_at_the_lowest_version_a_live_server_reads() {
        let adverts = [advert("a", 100.0, 3), advert("b", 99.0, 2)];
        let choice = choose(KINDS, &own(3), Peers { adverts: &adverts, silent: &[] }, 100.0);
        assert_eq!(writes(&choice), [("cluster", 2), ("family", 1), ("task", 2)]);
        assert_eq!(choice.held_by, [Holder { server: "b".into(), kind: "task", reads: 2 }]);
        assert!(choice.too_old.is_empty());
        // Once every server reads the new version, writes move to it.
        let adverts = [advert("a", 100.0, 3), advert("b", 100.0, 3)];
        let choice = choose(KINDS, &own(3), Peers { adverts: &adverts, silent: &[] }, 100.0);
        assert_eq!(choice.writes["task"], 3);
        assert!(choice.held_by.is_empty());
    }

    #[test]
    fn a_server_that_died_stops_holding_writes_back_when_its_advertisement_expires() {
        let adverts = [advert("a", 100.0, 3), advert("b", 100.0, 2)];
        let at = |now| choose(KINDS, &own(3), Peers { adverts: &adverts, silent: &[] }, now).writes["task"];
        assert_eq!(at(100.0 + EXPIRY_SECONDS), 2, "still live at the expiry");
        assert_eq!(at(100.0 + EXPIRY_SECONDS + 0.1), 3, "expired: no longer counts");
        assert_eq!(at(90.0), 2, "an advertisement from a clock ahead of this one counts");
    }

    #[test]
    fn a_server_under_the_ceiling_writes_what_it_reads_whatever_the_others_read() {
        let adverts = [advert("a", 100.0, 3)];
        let choice = choose(KINDS, &own(2), Peers { adverts: &adverts, silent: &[] }, 100.0);
        assert_eq!(choice.writes["task"], 2);
    }

    #[test]
    fn a_live_server_of_the_release_before_advertisements_reads_the_baseline() {
        let silent = ["old".to_string()];
        let choice = choose(KINDS, &own(3), Peers { adverts: &[], silent: &silent }, 100.0);
        assert_eq!(writes(&choice), [("cluster", 2), ("family", 1), ("task", 2)]);
        assert_eq!(choice.held_by, [Holder { server: "old".into(), kind: "task", reads: 2 }]);
    }

    #[test]
    fn a_server_two_releases_behind_is_named_and_writes_stay_one_back() {
        let adverts = [advert("ancient", 100.0, 1)];
        let choice = choose(KINDS, &own(3), Peers { adverts: &adverts, silent: &[] }, 100.0);
        assert_eq!(choice.writes["task"], 2, "never below one version back");
        assert_eq!(choice.too_old, [Holder { server: "ancient".into(), kind: "task", reads: 1 }]);
    }

    #[test]
    fn a_kind_an_advertisement_does_not_name_is_not_held_back() {
        let adverts = [Advert { server: "a".into(), at: 100.0, reads: [("cluster".to_string(), 2)].into() }];
        let choice = choose(KINDS, &own(3), Peers { adverts: &adverts, silent: &[] }, 100.0);
        assert_eq!(choice.writes["task"], 3);
    }
}
