//! The order of a relevance search: the name's tier, whether every word matched outside the
//! README, current before deprecated, among names starting with the query the shortest, then
//! relevance, then recency. All but recency come from the score (and a fast field or two);
//! recency is read only for a match that may still enter the page.

use std::cmp::{Ordering, Reverse};
use std::sync::Arc;

use tantivy::collector::sort_key::{Comparator, NaturalComparator};
use tantivy::collector::{SegmentSortKeyComputer, SortKeyComputer, TopNComputer};
use tantivy::columnar::ColumnValues;
use tantivy::{DocId, Score, SegmentReader};

use super::TIER;

/// What a match is ranked by, best last: the tier, the README mark, current, shorter name,
/// relevance, last update.
pub(super) type Key = (u8, bool, u8, Reverse<u64>, f32, i64);
/// The key without the last update.
type Head = (u8, bool, u8, Reverse<u64>, f32);

pub(super) struct Ranking {
    /// Parts of the query, each marked when matched outside the README.
    pub parts: u16,
    /// The mark of each part (none when parts were not marked).
    pub per_part_outside: Option<f32>,
    /// Whether the search keeps to current or to deprecated packs: every match alike then.
    pub deprecation_filtered: bool,
}

pub(super) struct SegmentRanking {
    parts: u16,
    per_part_outside: Option<f32>,
    deprecated: Option<Arc<dyn ColumnValues<u64>>>,
    lengths: Option<Arc<dyn ColumnValues<u64>>>,
    updated: Option<Arc<dyn ColumnValues<i64>>>,
}

impl SortKeyComputer for Ranking {
    type SortKey = Key;
    type Child = SegmentRanking;
    type Comparator = NaturalComparator;

    fn requires_scoring(&self) -> bool {
        true
    }

    fn segment_sort_key_computer(&self, segment: &SegmentReader) -> tantivy::Result<SegmentRanking> {
        let fast = segment.fast_fields();
        Ok(SegmentRanking {
            parts: self.parts,
            per_part_outside: self.per_part_outside,
            deprecated: fast.u64("deprecated").ok().filter(|_| !self.deprecation_filtered).map(|c| c.first_or_default_col(0)),
            lengths: fast.u64("name_len").ok().map(|c| c.first_or_default_col(0)),
            updated: fast.i64("updated").ok().map(|c| c.first_or_default_col(0)),
        })
    }
}

impl SegmentRanking {
    fn head(&self, doc: DocId, score: Score) -> Head {
        let tiers = whole(score / TIER);
        let tier = rank(tiers);
        // Packs the words match outside their README rank above those only their README names
        // (a long README names many other products).
        let (outside, rest) = outside_readme(score - tiers * TIER, self.parts, self.per_part_outside);
        let current = u8::from(self.deprecated.as_ref().is_none_or(|c| c.get_val(doc) == 0));
        // Among names starting with the query, the closest (shortest) first.
        let shorter = Reverse(if tier == 2 { self.lengths.as_ref().map_or(0, |c| c.get_val(doc)) } else { 0 });
        (tier, outside, current, shorter, rest)
    }

    fn with_update(&self, (tier, outside, current, shorter, rest): Head, doc: DocId) -> Key {
        (tier, outside, current, shorter, rest, self.updated.as_ref().map_or(0, |c| c.get_val(doc)))
    }
}

impl SegmentSortKeyComputer for SegmentRanking {
    type SortKey = Key;
    type SegmentSortKey = Key;
    type SegmentComparator = NaturalComparator;

    fn segment_sort_key(&mut self, doc: DocId, score: Score) -> Key {
        self.with_update(self.head(doc, score), doc)
    }

    /// Most matches rank below the page already without their last update: it is not read.
    fn compute_sort_key_and_collect<C: Comparator<Key>>(&mut self, doc: DocId, score: Score, top: &mut TopNComputer<Key, DocId, C>) {
        let head = self.head(doc, score);
        if let Some((tier, outside, current, shorter, rest, _)) = &top.threshold
            && head.partial_cmp(&(*tier, *outside, *current, *shorter, *rest)) == Some(Ordering::Less)
        {
            return;
        }
        top.push(self.with_update(head, doc), doc);
    }

    fn convert_segment_sort_key(&self, key: Key) -> Key {
        key
    }
}

/// Whether every one of `parts` parts was matched outside the README, from a score below a
/// tier, and that score without the marks.
pub(super) fn outside_readme(rest: f32, parts: u16, per_part: Option<f32>) -> (bool, f32) {
    let Some(per_part) = per_part else { return (false, rest) };
    let marks = whole(rest / per_part);
    (marks >= f32::from(parts), rest - marks * per_part)
}

/// The whole part of a score (never negative) without a call into libm: `floorf` took 3 % of
/// a search, called for every match.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)] // below 2^24
fn whole(score: f32) -> f32 {
    score as u32 as f32
}

/// The ranking tier of a sum of [`super::SearchIndex::name_tiers`] scores: 3 the exact name, 2 a name
/// starting with the query, 1 a name within the typos, 0 any other match.
fn rank(tiers: f32) -> u8 {
    match tiers {
        t if t >= 4.0 => 3,
        t if t >= 2.0 => 2,
        t if t >= 1.0 => 1,
        _ => 0,
    }
}
