//! Choosing an instance for one task: feasibility per class, then a bounded search of each feasible class's
//! index for its best instance, then the best over classes. See the crate documentation.

use rand::Rng;

use super::ClusterState;
use super::classes::Kind;
use super::slot::SlotFacts;
use super::treap::{Key, Query};
use crate::constraint::Constraint;
use crate::expr::Expr;
use crate::expr::eval::{Tri, eval};
use crate::model::{Placement, TaskDemand};
use crate::strategy::{BinpackField, SpreadOver, Strategy, spread_over};

/// Most ranking levels a key holds; validated demands have at most 5 strategies.
const MAX_LEVELS: usize = 8;
/// Uniform samples tried for a leading `random` before enumerating the feasible instances.
const RANDOM_TRIES: usize = 16;
/// Instances found infeasible are parked only while more than this many tasks of the call remain: parking
/// costs about as much as skipping an instance a few dozen times.
const PARK_REJECTED_ABOVE: usize = 16;

/// One ranking level (a strategy after normalization); lower values rank better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Remaining memory (binpack).
    Mem,
    /// Remaining CPU (binpack).
    Cpu,
    /// Tasks of the group on the instance (spread over instances).
    Inst,
    /// Tasks of the group in the instance's bucket of tracked attribute `n` (spread over an attribute).
    Attr(u32),
}

/// How a class's index is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The index order is the in-class ranking.
    Plain,
    /// Spread over instances ranks first inside a class: instances without the group's tasks first (from
    /// the index), else the group's own instances.
    NonMemberFirst,
    /// Spread over instances comes after `prefix` binpack levels: the run of instances tied on those is
    /// scanned.
    RunScan { prefix: usize },
}

/// A class that may host the task, with the memberOf expressions it could not decide.
struct Cell {
    class: u32,
    dynamic: Vec<usize>,
}

/// A demand, resolved against the state once per call.
struct Prepared<'d> {
    demand: &'d TaskDemand,
    group: u32,
    distinct: bool,
    exprs: Vec<&'d Expr>,
    levels: Vec<Level>,
    random_first: bool,
    kind: Kind,
    mode: Mode,
    leading_attrs: usize,
    lo: Key,
    cells: Vec<Cell>,
}

/// A candidate's rank: the level values, then its distance on the hash ring from the placement's random
/// point. Smaller is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    vals: [i64; MAX_LEVELS],
    ring: u64,
}

const KEY_MAX: Key = (i64::MAX, i64::MAX, u64::MAX, u32::MAX);

impl ClusterState {
    /// Places `count` tasks of `demand`, one after the other, each on the best feasible instance under the
    /// demand's constraints and strategies; every placed task is recorded in the state (resources, ports,
    /// running task count, task groups) before the next is placed.
    ///
    /// Stops at the first task that fits nowhere and reports, for every instance, the first check it
    /// failed; the remaining tasks would fail the same way, since nothing changed.
    pub fn place(&mut self, demand: &TaskDemand, count: usize, rng: &mut impl Rng) -> Placement {
        let mut out = Placement::default();
        if count == 0 {
            return out;
        }
        let p = self.prepare(demand);
        for k in 0..count {
            let left = count - k;
            match self.select(&p, rng, left > PARK_REJECTED_ABOVE) {
                Some(i) => {
                    self.commit(&p, i, left > 1);
                    out.placed.push(self.slot(i).arn.clone());
                }
                None => {
                    self.unpark_all();
                    out.failures = self.failures(demand, Some(p.group), &p.exprs, p.distinct);
                    break;
                }
            }
        }
        self.unpark_all();
        out
    }

    /// Builds ahead of time the classes, spread counters and indexes that placing `demand` needs (they are
    /// otherwise built by the first such placement), e.g. after loading a large cluster.
    pub fn warm_up(&mut self, demand: &TaskDemand) {
        self.prepare(demand);
    }

    fn prepare<'d>(&mut self, demand: &'d TaskDemand) -> Prepared<'d> {
        let mut exprs = Vec::new();
        let mut distinct = false;
        for c in &demand.constraints {
            match c {
                Constraint::DistinctInstance => distinct = true,
                Constraint::MemberOf(e) => exprs.push(e),
            }
        }
        let chain: Vec<&Strategy> = demand.strategy.iter().take_while(|s| **s != Strategy::Random).collect();
        let random_first = chain.is_empty();
        let mut names: Vec<&str> = demand.required_attributes.iter().map(String::as_str).collect();
        let mut version = false;
        for e in &exprs {
            e.for_each_comparison(&mut |c| match &c.subject {
                crate::expr::Subject::Attribute(n) => names.push(n),
                crate::expr::Subject::AgentVersion => version = true,
                _ => {}
            });
        }
        let spread_names: Vec<String> = chain
            .iter()
            .filter_map(|s| match s {
                Strategy::Spread(f) => match spread_over(f) {
                    SpreadOver::Attribute(n) => Some(n),
                    SpreadOver::Instance => None,
                },
                _ => None,
            })
            .collect();
        names.extend(spread_names.iter().map(String::as_str));
        self.ensure_relevant(&names, version);
        let mut levels = Vec::new();
        for s in &chain {
            let level = match s {
                Strategy::Binpack(BinpackField::Memory) => Level::Mem,
                Strategy::Binpack(BinpackField::Cpu) => Level::Cpu,
                Strategy::Spread(f) => match spread_over(f) {
                    SpreadOver::Instance if distinct => continue,
                    SpreadOver::Instance => Level::Inst,
                    SpreadOver::Attribute(n) => Level::Attr(self.ensure_tracked(&n)),
                },
                Strategy::Random => continue,
            };
            if !levels.contains(&level) && levels.len() < MAX_LEVELS {
                levels.push(level);
            }
        }
        let in_class: Vec<Level> = levels.iter().copied().filter(|l| !matches!(l, Level::Attr(_))).collect();
        let binpacks: Vec<Level> = in_class.iter().copied().filter(|l| *l != Level::Inst).collect();
        let kind = match binpacks.as_slice() {
            [] => Kind::Hash,
            [Level::Mem] => Kind::Mem,
            [Level::Cpu] => Kind::Cpu,
            [Level::Mem, ..] => Kind::MemCpu,
            _ => Kind::CpuMem,
        };
        let mode = match in_class.iter().position(|l| *l == Level::Inst) {
            None => Mode::Plain,
            Some(0) => Mode::NonMemberFirst,
            Some(prefix) => Mode::RunScan { prefix },
        };
        self.ensure_kind(kind);
        let lo = match kind {
            Kind::Hash => (i64::MIN, i64::MIN, 0, 0),
            Kind::Mem | Kind::MemCpu => (demand.memory, i64::MIN, 0, 0),
            Kind::Cpu | Kind::CpuMem => (demand.cpu, i64::MIN, 0, 0),
        };
        let group = self.groups.intern(&demand.group);
        for e in &exprs {
            self.evaluate_per_class(e);
        }
        let results: Vec<&[Tri]> =
            exprs.iter().map(|e| self.class_results.get(*e).map_or(&[][..], Vec::as_slice)).collect();
        // Required attributes are relevant, so each has a position in the class keys.
        let required: Vec<usize> = demand
            .required_attributes
            .iter()
            .filter_map(|name| self.classes.names.iter().position(|n| n == name))
            .collect();
        let mut cells = Vec::new();
        'classes: for (c, class) in self.classes.list.iter().enumerate() {
            if class.members.is_empty() || required.iter().any(|&k| class.key.1[k].is_none()) {
                continue;
            }
            let mut dynamic = Vec::new();
            for (k, per_class) in results.iter().enumerate() {
                match per_class.get(c).copied().unwrap_or(Tri::Unknown) {
                    Tri::False => continue 'classes,
                    Tri::Unknown => dynamic.push(k),
                    Tri::True => {}
                }
            }
            cells.push(Cell { class: c as u32, dynamic });
        }
        let leading_attrs = levels.iter().take_while(|l| matches!(l, Level::Attr(_))).count();
        Prepared { demand, group, distinct, exprs, levels, random_first, kind, mode, leading_attrs, lo, cells }
    }

    /// Whether slot `i` of `cell` can take the task now (the class-level checks already passed).
    fn feasible(&self, i: u32, p: &Prepared<'_>, cell: &Cell) -> bool {
        let slot = self.slot(i);
        let d = p.demand;
        if slot.remaining.cpu < d.cpu || slot.remaining.memory < d.memory {
            return false;
        }
        if !slot.remaining.storage_fits(d.ephemeral_storage_gib) {
            return false;
        }
        if slot.ports_free(&d.tcp_ports, &d.udp_ports) != (true, true) {
            return false;
        }
        if p.distinct && slot.group_count(p.group) > 0 {
            return false;
        }
        let facts = SlotFacts { slot, names: &self.groups.names };
        cell.dynamic.iter().all(|&k| eval(p.exprs[k], &facts) == Tri::True)
    }

    /// [`Self::feasible`], and not running the group when instances without it rank first.
    fn acceptable(&self, i: u32, p: &Prepared<'_>, cell: &Cell) -> bool {
        (p.mode != Mode::NonMemberFirst || self.slot(i).group_count(p.group) == 0) && self.feasible(i, p, cell)
    }

    fn rank(&self, i: u32, p: &Prepared<'_>, cell: &Cell, r: u64) -> Rank {
        let slot = self.slot(i);
        let class = &self.classes.list[cell.class as usize];
        let mut vals = [0i64; MAX_LEVELS];
        for (v, level) in vals.iter_mut().zip(&p.levels) {
            *v = match level {
                Level::Mem => slot.remaining.memory,
                Level::Cpu => slot.remaining.cpu,
                Level::Inst => i64::from(slot.group_count(p.group)),
                Level::Attr(a) => i64::from(self.spread.count(p.group, *a, class.spread_vals[*a as usize])),
            };
        }
        Rank { vals, ring: slot.tb.wrapping_sub(r) }
    }

    /// The ranks of the leading spread-over-attribute levels of a class (the same for all its instances).
    fn class_prefix(&self, p: &Prepared<'_>, cell: &Cell) -> [i64; MAX_LEVELS] {
        let class = &self.classes.list[cell.class as usize];
        let mut vals = [0i64; MAX_LEVELS];
        for (v, level) in vals.iter_mut().zip(&p.levels[..p.leading_attrs]) {
            if let Level::Attr(a) = level {
                *v = i64::from(self.spread.count(p.group, *a, class.spread_vals[*a as usize]));
            }
        }
        vals
    }

    fn query(&self, p: &Prepared<'_>, lo: Key, hi: Key) -> Query {
        Query { lo, hi, cpu: p.demand.cpu, mem: p.demand.memory }
    }

    /// The best instance for the next task, or `None` when nothing fits. Instances found infeasible are
    /// parked when `park` (enough tasks of this call remain to make that pay).
    fn select(&mut self, p: &Prepared<'_>, rng: &mut impl Rng, park: bool) -> Option<u32> {
        let r: u64 = rng.random();
        if p.random_first {
            return self.select_random(p, rng, park);
        }
        let mut rejected = Vec::new();
        let best = self.search(p, r, &mut rejected);
        if park {
            for i in rejected {
                self.park(i);
            }
        }
        best
    }

    fn search(&self, p: &Prepared<'_>, r: u64, rejected: &mut Vec<u32>) -> Option<u32> {
        let mut order: Vec<usize> = (0..p.cells.len()).collect();
        let prefixes: Vec<[i64; MAX_LEVELS]> = if p.leading_attrs > 0 {
            let prefixes: Vec<_> = p.cells.iter().map(|c| self.class_prefix(p, c)).collect();
            order.sort_by_key(|&c| prefixes[c]);
            prefixes
        } else {
            Vec::new()
        };
        // Phase 1: each class's first acceptable instance in index order (its rank without the ring), or an
        // exact best where the index order is not the ranking.
        let mut partial: Vec<(Rank, usize, Key)> = Vec::new();
        let mut exact: Vec<(Rank, u32)> = Vec::new();
        let mut fallback: Vec<usize> = Vec::new();
        let mut best_prefix: Option<[i64; MAX_LEVELS]> = None;
        for &c in &order {
            let cell = &p.cells[c];
            if let (Some(bp), true) = (best_prefix, fallback.is_empty())
                && p.leading_attrs > 0
                && prefixes[c] > bp
            {
                break;
            }
            let tree = &self.classes.list[cell.class as usize].trees[p.kind as usize];
            match p.mode {
                Mode::Plain | Mode::NonMemberFirst => {
                    let q = self.query(p, p.lo, KEY_MAX);
                    let found = tree.first(&q, &mut |i| {
                        let ok = self.acceptable(i, p, cell);
                        if !ok {
                            rejected.push(i);
                        }
                        ok
                    });
                    match found {
                        Some(e) => {
                            let rank = self.rank(e.3, p, cell, r);
                            partial.push((Rank { ring: 0, ..rank }, c, e));
                        }
                        None if p.mode == Mode::NonMemberFirst => fallback.push(c),
                        None => continue,
                    }
                }
                Mode::RunScan { prefix } => match self.scan_run(p, cell, prefix, r, rejected) {
                    Some(found) => exact.push(found),
                    None => continue,
                },
            }
            if p.leading_attrs > 0 {
                let pre = prefixes[c];
                best_prefix = Some(best_prefix.map_or(pre, |b| b.min(pre)));
            }
        }
        if !fallback.is_empty() {
            exact.extend(self.member_fallback(p, &fallback, r));
        }
        // Phase 2: among the classes whose first instance ranks best, the tie goes round the hash ring.
        let min_vals = partial.iter().map(|(rank, _, _)| rank.vals).min();
        let mut best: Option<(Rank, u32)> = exact.into_iter().min();
        for (rank, c, e) in partial {
            if Some(rank.vals) != min_vals {
                continue;
            }
            let cell = &p.cells[c];
            let tree = &self.classes.list[cell.class as usize].trees[p.kind as usize];
            let q = self.query(p, (e.0, e.1, r, 0), (e.0, e.1, u64::MAX, u32::MAX));
            let around = tree.first(&q, &mut |i| {
                let ok = self.acceptable(i, p, cell);
                if !ok {
                    rejected.push(i);
                }
                ok
            });
            let chosen = around.map_or(e.3, |k| k.3);
            let candidate = (Rank { ring: self.slot(chosen).tb.wrapping_sub(r), ..rank }, chosen);
            if best.is_none_or(|b| candidate < b) {
                best = Some(candidate);
            }
        }
        best.map(|(_, i)| i)
    }

    /// RunScan: the best of the run tied with the first feasible instance on the first `prefix` levels.
    fn scan_run(
        &self,
        p: &Prepared<'_>,
        cell: &Cell,
        prefix: usize,
        r: u64,
        rejected: &mut Vec<u32>,
    ) -> Option<(Rank, u32)> {
        let tree = &self.classes.list[cell.class as usize].trees[p.kind as usize];
        let q = self.query(p, p.lo, KEY_MAX);
        let e = tree.first(&q, &mut |i| {
            let ok = self.feasible(i, p, cell);
            if !ok {
                rejected.push(i);
            }
            ok
        })?;
        let (lo1, hi1) = if prefix >= 2 { (e.1, e.1) } else { (i64::MIN, i64::MAX) };
        let q = self.query(p, (e.0, lo1, 0, 0), (e.0, hi1, u64::MAX, u32::MAX));
        let mut best: Option<(Rank, u32)> = None;
        tree.walk(&q, &mut |k| {
            if self.feasible(k.3, p, cell) {
                let candidate = (self.rank(k.3, p, cell, r), k.3);
                if best.is_none_or(|b| candidate < b) {
                    best = Some(candidate);
                }
            }
            true
        });
        best
    }

    /// NonMemberFirst classes where every feasible instance already runs the group: the best of the group's
    /// instances there.
    fn member_fallback(&self, p: &Prepared<'_>, cells: &[usize], r: u64) -> Vec<(Rank, u32)> {
        let mut best: Vec<Option<(Rank, u32)>> = vec![None; cells.len()];
        for &i in &self.groups.members[p.group as usize] {
            let class = self.slot(i).class;
            let Some(k) = cells.iter().position(|&c| p.cells[c].class == class) else { continue };
            let cell = &p.cells[cells[k]];
            if self.feasible(i, p, cell) {
                let candidate = (self.rank(i, p, cell, r), i);
                if best[k].is_none_or(|b| candidate < b) {
                    best[k] = Some(candidate);
                }
            }
        }
        best.into_iter().flatten().collect()
    }

    /// A leading `random`: uniform over the feasible instances (rejection sampling over the candidate
    /// classes' members, then an exhaustive pass).
    fn select_random(&mut self, p: &Prepared<'_>, rng: &mut impl Rng, park: bool) -> Option<u32> {
        for _ in 0..RANDOM_TRIES {
            let total: usize = p.cells.iter().map(|c| self.classes.list[c.class as usize].members.len()).sum();
            if total == 0 {
                return None;
            }
            let mut u = rng.random_range(0..total);
            for cell in &p.cells {
                let members = &self.classes.list[cell.class as usize].members;
                if u >= members.len() {
                    u -= members.len();
                    continue;
                }
                let i = members[u];
                if self.feasible(i, p, cell) {
                    return Some(i);
                }
                if park {
                    self.park(i);
                }
                break;
            }
        }
        let mut feasible = Vec::new();
        for cell in &p.cells {
            let tree = &self.classes.list[cell.class as usize].trees[p.kind as usize];
            tree.walk(&self.query(p, p.lo, KEY_MAX), &mut |k| {
                if self.feasible(k.3, p, cell) {
                    feasible.push(k.3);
                }
                true
            });
        }
        if feasible.is_empty() {
            return None;
        }
        Some(feasible[rng.random_range(0..feasible.len())])
    }

    /// Records the task on slot `i`; with `park`, sets the slot aside when it cannot take another task of
    /// this call (distinctInstance) or ranks behind the group's non-members.
    fn commit(&mut self, p: &Prepared<'_>, i: u32, park: bool) {
        self.adjust(i, p.demand, Some(p.group), 1);
        if park && (p.distinct || p.mode == Mode::NonMemberFirst) {
            self.park(i);
        }
    }
}
