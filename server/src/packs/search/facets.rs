//! Facet counts of a search: matches per namespace, kind, deprecation and signature, read from
//! the fast fields.

use std::collections::BTreeMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::{DocId, Score, SegmentReader};

use super::Facets;

/// Counts matches per namespace, kind, deprecation and signature from the fast fields.
pub(super) struct FacetCounter;

pub(super) struct SegmentFacets {
    namespaces: Option<StrColumn>,
    kinds: Option<StrColumn>,
    deprecated: Option<tantivy::columnar::Column<u64>>,
    signed: Option<tantivy::columnar::Column<u64>>,
    namespace_ords: BTreeMap<u64, u64>,
    kind_ords: BTreeMap<u64, u64>,
    counts: Facets,
}

impl Collector for FacetCounter {
    type Fruit = Facets;
    type Child = SegmentFacets;

    fn for_segment(&self, _: u32, segment: &SegmentReader) -> tantivy::Result<SegmentFacets> {
        let fast = segment.fast_fields();
        Ok(SegmentFacets {
            namespaces: fast.str("namespace")?,
            kinds: fast.str("kind")?,
            deprecated: fast.u64("deprecated").ok(),
            signed: fast.u64("signed").ok(),
            namespace_ords: BTreeMap::new(),
            kind_ords: BTreeMap::new(),
            counts: Facets::default(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Facets>) -> tantivy::Result<Facets> {
        let mut all = Facets::default();
        for fruit in fruits {
            for (k, v) in fruit.namespaces {
                *all.namespaces.entry(k).or_default() += v;
            }
            for (k, v) in fruit.kinds {
                *all.kinds.entry(k).or_default() += v;
            }
            all.deprecated += fruit.deprecated;
            all.signed += fruit.signed;
        }
        Ok(all)
    }
}

impl SegmentCollector for SegmentFacets {
    type Fruit = Facets;

    fn collect(&mut self, doc: DocId, _: Score) {
        for (column, counts) in [(&self.namespaces, &mut self.namespace_ords), (&self.kinds, &mut self.kind_ords)] {
            if let Some(ord) = column.as_ref().and_then(|c| c.term_ords(doc).next()) {
                *counts.entry(ord).or_default() += 1;
            }
        }
        let is_set = |column: &Option<tantivy::columnar::Column<u64>>| column.as_ref().and_then(|c| c.first(doc)) == Some(1);
        self.counts.deprecated += u64::from(is_set(&self.deprecated));
        self.counts.signed += u64::from(is_set(&self.signed));
    }

    fn harvest(mut self) -> Facets {
        let mut name = String::new();
        for (column, ords, out) in [
            (&self.namespaces, &self.namespace_ords, &mut self.counts.namespaces),
            (&self.kinds, &self.kind_ords, &mut self.counts.kinds),
        ] {
            for (ord, count) in ords {
                if column.as_ref().is_some_and(|c| c.ord_to_str(*ord, &mut name).unwrap_or(false)) {
                    out.insert(name.clone(), *count);
                }
            }
        }
        self.counts
    }
}
