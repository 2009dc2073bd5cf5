//! Prefix and typo automata, built once per search and shared by the fields they run on: a
//! query word's Levenshtein automaton was built for the name, for every text and for the
//! exact name in turn, 5 % of a search.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};
use tantivy::query::{AutomatonWeight, EnableScoring, Query, Weight};
use tantivy::schema::Field;

/// Most typos allowed, as tantivy's fuzzy queries allow.
const MOST_TYPOS: u8 = 2;

/// Builders by typos allowed and whether a transposition counts as one typo (each builds a
/// table once, as tantivy keeps them).
static BUILDERS: LazyLock<Vec<[LevenshteinAutomatonBuilder; 2]>> =
    LazyLock::new(|| (0..=MOST_TYPOS).map(|typos| [LevenshteinAutomatonBuilder::new(typos, false), LevenshteinAutomatonBuilder::new(typos, true)]).collect());

/// A word within some typos (or starting with such a word), as a term dictionary walks it.
pub(super) struct Dfa(DFA);

impl std::fmt::Debug for Dfa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dfa")
    }
}

impl tantivy_fst::Automaton for Dfa {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

/// What a word's automaton is made of: the word, typos allowed, whether a transposition is one
/// typo, whether longer words starting with a match match too.
type Spec = (String, u8, bool, bool);

/// The automata of one search, each built on first use.
#[derive(Default)]
pub(super) struct Automata(HashMap<Spec, Arc<Dfa>>);

impl Automata {
    /// Documents whose `field` holds `word` within `typos` (at most two), or with `prefix` a
    /// word starting with one; each matching document scores the same (as tantivy's fuzzy
    /// queries).
    pub(super) fn query(&mut self, field: Field, word: &str, typos: u8, transpositions: bool, prefix: bool) -> Box<dyn Query> {
        let typos = typos.min(MOST_TYPOS);
        let dfa = self.0.entry((word.to_owned(), typos, transpositions, prefix)).or_insert_with(|| {
            let builder = &BUILDERS[usize::from(typos)][usize::from(transpositions)];
            Arc::new(Dfa(if prefix { builder.build_prefix_dfa(word) } else { builder.build_dfa(word) }))
        });
        Box::new(Within { field, dfa: Arc::clone(dfa) })
    }
}

#[derive(Debug, Clone)]
struct Within {
    field: Field,
    dfa: Arc<Dfa>,
}

impl Query for Within {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(AutomatonWeight::<Dfa>::new(self.field, Arc::clone(&self.dfa))))
    }
}
