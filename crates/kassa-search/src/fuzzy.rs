//! Typo-tolerant and prefix matching of one query word, with one Levenshtein automaton per word
//! shared by every field the word is looked up in. tantivy's `FuzzyTermQuery` builds its own
//! automaton per field: six fields and two automata a word made twelve builds a search.

use std::sync::{Arc, OnceLock};

use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};
use tantivy::query::{AutomatonWeight, EnableScoring, Query, Weight};
use tantivy::schema::Field;
use tantivy_fst::Automaton;

/// The largest typo allowance (`typos_allowed`).
const MAX_DISTANCE: usize = 2;

/// A word's automaton: the terms within its typo allowance (or, for a prefix automaton, the
/// terms that start with something within it).
pub(crate) struct WordAutomaton(DFA);

impl WordAutomaton {
    pub(crate) fn new(word: &str, distance: u8, prefix: bool) -> Arc<Self> {
        // Building a builder is costly (tantivy keeps its own the same way): one per distance.
        static BUILDERS: [OnceLock<LevenshteinAutomatonBuilder>; MAX_DISTANCE + 1] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let distance = distance.min(MAX_DISTANCE as u8);
        // A transposition counts as one typo, as in Typesense.
        let builder =
            BUILDERS[distance as usize].get_or_init(|| LevenshteinAutomatonBuilder::new(distance, true));
        Arc::new(Self(if prefix {
            builder.build_prefix_dfa(word)
        } else {
            builder.build_dfa(word)
        }))
    }
}

impl Automaton for WordAutomaton {
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

/// The documents whose `field` holds a term the automaton accepts, all scored alike.
#[derive(Clone)]
pub(crate) struct AutomatonQuery {
    field: Field,
    automaton: Arc<WordAutomaton>,
}

impl AutomatonQuery {
    pub(crate) fn new(field: Field, automaton: &Arc<WordAutomaton>) -> Self {
        Self {
            field,
            automaton: Arc::clone(automaton),
        }
    }
}

impl std::fmt::Debug for AutomatonQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutomatonQuery")
            .field("field", &self.field)
            .finish()
    }
}

impl Query for AutomatonQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(AutomatonWeight::<WordAutomaton>::new(
            self.field,
            Arc::clone(&self.automaton),
        )))
    }
}
