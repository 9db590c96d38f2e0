//! Full-text search over item text fields: a persisted BM25 index (tantivy).
//!
//! [`TextIndex`] indexes the configured fields of each [`Item`] — `Text`, `Keyword`, and `Tags`
//! (joined by spaces) values — and answers free-text queries with BM25 scores summed over the
//! fields, each field's score multiplied by its boost.
//!
//! * The index lives in one directory and survives restarts: [`TextIndex::open`] reopens what
//!   is there and never rebuilds it.
//! * Changes ([`TextIndex::upsert`], [`TextIndex::delete`]) go to the index writer at once and
//!   become visible to [`TextIndex::search`] and [`TextIndex::len`] after
//!   [`TextIndex::commit`]; [`crate::text_commit::TextCommitter`] commits them in batches.
//! * Queries are plain text, never query syntax: the query is split into terms by each field's
//!   tokenizer and the terms are OR-ed, so no user input can make a search fail.
//! * Two tokenizers: [`TextTokenizer::Default`] (split on non-alphanumeric characters,
//!   lower-case, English stemming) and [`TextTokenizer::Chinese`] (jieba search-mode
//!   segmentation, lower-case; Latin words inside Chinese text are kept whole).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use cascade_core::{FieldValue, Item};
use parking_lot::Mutex;
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer, Token, TokenStream,
    Tokenizer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// The name of the internal field that holds the item id (raw, indexed, stored).
const ID_FIELD: &str = "__cascade_id";
/// Tokenizer names as stored in the schema; a change of a tokenizer's behaviour gets a new
/// version suffix so that an index built with the old one is reported as a schema mismatch.
const DEFAULT_TOKENIZER: &str = "cascade_default_v1";
const CHINESE_TOKENIZER: &str = "cascade_chinese_v1";
/// Tokens longer than this (in bytes) are dropped.
const MAX_TOKEN_LEN: usize = 64;
/// At most this many distinct terms per field are taken from a query.
const MAX_QUERY_TERMS: usize = 64;
/// `build` logs its progress every this many items.
const PROGRESS_EVERY: usize = 10_000;
/// The indexing memory budget of the one writer thread.
const WRITER_MEMORY_BYTES: usize = 50_000_000;

/// How a field's text is split into terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextTokenizer {
    /// Split on non-alphanumeric characters, lower-case, English (Porter-style) stemming.
    #[default]
    Default,
    /// Chinese word segmentation (jieba, search mode: long words also yield their sub-words),
    /// lower-cased; punctuation and whitespace are dropped.
    Chinese,
}

impl TextTokenizer {
    fn tantivy_name(self) -> &'static str {
        match self {
            TextTokenizer::Default => DEFAULT_TOKENIZER,
            TextTokenizer::Chinese => CHINESE_TOKENIZER,
        }
    }
}

/// One item field to index.
#[derive(Debug, Clone, PartialEq)]
pub struct TextField {
    /// The field name in [`Item::fields`].
    pub name: String,
    /// How the field's text is tokenised (part of the stored schema).
    pub tokenizer: TextTokenizer,
    /// Multiplies this field's BM25 score at query time (not stored: may change freely).
    pub boost: f32,
}

impl TextField {
    /// A field with the given tokenizer and a boost of 1.
    pub fn new(name: impl Into<String>, tokenizer: TextTokenizer) -> Self {
        TextField {
            name: name.into(),
            tokenizer,
            boost: 1.0,
        }
    }

    /// The same field with another boost.
    pub fn with_boost(mut self, boost: f32) -> Self {
        self.boost = boost;
        self
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct TextHit {
    /// The item's id.
    pub item_id: String,
    /// The BM25 score, summed over fields with their boosts; higher is better.
    pub score: f32,
}

/// What can go wrong with a [`TextIndex`].
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The requested fields are unusable (empty list, duplicate or invalid name, bad boost).
    #[error("invalid text index fields: {0}")]
    InvalidFields(String),
    /// The index in the directory was built with other fields or tokenizers than requested.
    /// Delete the directory and build the index again.
    #[error(
        "the text index in {dir} was built with other fields: it has [{found}], \
         the configuration asks for [{expected}]; delete the directory to rebuild it"
    )]
    SchemaMismatch {
        /// The index directory.
        dir: String,
        /// The fields requested, as `name(tokenizer)`.
        expected: String,
        /// The fields in the stored index, as `name(tokenizer)`.
        found: String,
    },
    /// The index directory could not be opened or created.
    #[error("cannot open text index directory {dir}: {reason}")]
    Directory {
        /// The index directory.
        dir: String,
        /// Why.
        reason: String,
    },
    /// An error from tantivy (I/O, corrupt index, lock held by another writer, …).
    #[error("text index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
}

/// A persisted BM25 full-text index over item text fields. See the [module docs](self).
///
/// Thread-safe: searches run concurrently; writes are serialised on one writer. Only one
/// `TextIndex` (in any process) may have a directory open at a time.
pub struct TextIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    /// Whether the writer holds changes that are not committed yet (changed under its lock).
    uncommitted: AtomicBool,
    /// Whether a change could not be applied, so that the index no longer follows the
    /// catalogue until it is built again.
    missed_change: AtomicBool,
    id_field: Field,
    /// Configured fields with their tantivy field, in configuration order.
    fields: Vec<(TextField, Field)>,
}

impl std::fmt::Debug for TextIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextIndex")
            .field(
                "fields",
                &self.fields.iter().map(|(f, _)| f).collect::<Vec<_>>(),
            )
            .field("len", &self.len())
            .finish()
    }
}

impl TextIndex {
    /// Opens the index in `dir`, or creates an empty one there (creating `dir` if needed).
    ///
    /// An existing index is used as it is, never rebuilt. If it was built with other field
    /// names or tokenizers than `fields` asks for, this returns [`TextError::SchemaMismatch`]
    /// (the caller decides whether to delete the directory and rebuild). Boosts are query-time
    /// only and may differ from the ones used when the index was built.
    pub fn open(dir: &Path, fields: &[TextField]) -> Result<Self, TextError> {
        let (schema, id_field, tantivy_fields) = build_schema(fields)?;
        let dir_error = |reason: String| TextError::Directory {
            dir: dir.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| dir_error(e.to_string()))?;
        let directory = MmapDirectory::open(dir).map_err(|e| dir_error(e.to_string()))?;
        let exists = Index::exists(&directory).map_err(|e| dir_error(e.to_string()))?;
        let index = if exists {
            let index = Index::open(directory)?;
            let stored = index.schema();
            if stored != schema {
                return Err(TextError::SchemaMismatch {
                    dir: dir.display().to_string(),
                    expected: describe_schema(&schema),
                    found: describe_schema(&stored),
                });
            }
            index
        } else {
            Index::create(directory, schema, Default::default())?
        };
        register_tokenizers(&index);
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(TextIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            uncommitted: AtomicBool::new(false),
            missed_change: AtomicBool::new(false),
            id_field,
            fields: fields.iter().cloned().zip(tantivy_fields).collect(),
        })
    }

    /// The configured fields, in configuration order.
    pub fn fields(&self) -> impl Iterator<Item = &TextField> {
        self.fields.iter().map(|(f, _)| f)
    }

    /// Adds `item`, replacing any earlier document with its id; visible after
    /// [`commit`](Self::commit). An item with no text in any configured field is only removed.
    /// Changes of one id apply in the order of the calls.
    pub fn upsert(&self, item: &Item) -> Result<(), TextError> {
        let document = self.document(item);
        let writer = self.writer.lock();
        self.uncommitted.store(true, Ordering::Relaxed);
        let applied = self.replace_with(&writer, &item.id, document);
        if applied.is_err() {
            self.missed_change.store(true, Ordering::Relaxed);
        }
        applied
    }

    /// Replaces the document of `id` with `document` (`None`: only removes it).
    fn replace_with(
        &self,
        writer: &IndexWriter,
        id: &str,
        document: Option<TantivyDocument>,
    ) -> Result<(), TextError> {
        writer.delete_term(Term::from_field_text(self.id_field, id));
        if let Some(document) = document {
            writer.add_document(document)?;
        }
        Ok(())
    }

    /// The document for `item`; `None` when it has no text in any configured field.
    fn document(&self, item: &Item) -> Option<TantivyDocument> {
        let mut doc = TantivyDocument::default();
        let mut any_text = false;
        for (conf, field) in &self.fields {
            let text = match item.fields.get(&conf.name) {
                Some(FieldValue::Text(s) | FieldValue::Keyword(s)) => s.clone(),
                Some(FieldValue::Tags(tags)) => tags.join(" "),
                _ => continue,
            };
            if text.trim().is_empty() {
                continue;
            }
            doc.add_text(*field, text);
            any_text = true;
        }
        any_text.then(|| {
            doc.add_text(self.id_field, &item.id);
            doc
        })
    }

    /// Removes the item `id` (a no-op if it is absent); effective after
    /// [`commit`](Self::commit).
    pub fn delete(&self, id: &str) -> Result<(), TextError> {
        let writer = self.writer.lock();
        self.uncommitted.store(true, Ordering::Relaxed);
        writer.delete_term(Term::from_field_text(self.id_field, id));
        Ok(())
    }

    /// Whether an [`upsert`](Self::upsert) failed since the index was opened or built: then it
    /// no longer follows the catalogue, and must not be saved as current.
    pub fn missed_changes(&self) -> bool {
        self.missed_change.load(Ordering::Relaxed)
    }

    /// Persists the changes since the last commit and makes them searchable. Each commit writes
    /// a small segment that is merged in the background, so calling it after every batch of
    /// writes is fine; calling it after every single item is wasteful (tens of milliseconds
    /// each).
    pub fn commit(&self) -> Result<(), TextError> {
        {
            let mut writer = self.writer.lock();
            writer.commit()?;
            self.uncommitted.store(false, Ordering::Relaxed);
        }
        self.reader.reload()?;
        Ok(())
    }

    /// [`commit`](Self::commit)s if anything changed since the last commit; whether it did.
    pub fn commit_pending(&self) -> Result<bool, TextError> {
        if !self.uncommitted.load(Ordering::Relaxed) {
            return Ok(false);
        }
        self.commit().map(|()| true)
    }

    /// Replaces the whole contents of the index with `items` and commits; returns the number of
    /// items read. Logs progress every 10 000 items. Searches see the old contents until the
    /// final commit.
    pub fn build(&self, items: impl Iterator<Item = Item>) -> Result<usize, TextError> {
        let started = std::time::Instant::now();
        let mut count = 0usize;
        {
            let writer = self.writer.lock();
            writer.delete_all_documents()?;
            for item in items {
                self.replace_with(&writer, &item.id, self.document(&item))?;
                count += 1;
                if count.is_multiple_of(PROGRESS_EVERY) {
                    tracing::info!(
                        items = count,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "text index build in progress"
                    );
                }
            }
        }
        self.commit()?;
        self.missed_change.store(false, Ordering::Relaxed);
        tracing::info!(
            items = count,
            documents = self.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "text index built"
        );
        Ok(count)
    }

    /// The best `limit` items for `query`, best first, leaving out those for which `exclude`
    /// returns true. Any query text is accepted: terms are taken from it with each field's
    /// tokenizer and OR-ed; a query with no terms returns no hits.
    pub fn search(
        &self,
        query: &str,
        limit: usize,
        exclude: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<TextHit>, TextError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let Some(query) = self.build_query(query) else {
            return Ok(Vec::new());
        };
        let searcher = self.reader.searcher();
        // Fetch more than asked for so that excluded items can be skipped; fetch again with a
        // larger window when too many were excluded.
        let mut window = limit.saturating_mul(2).saturating_add(16);
        loop {
            let top = searcher.search(&query, &TopDocs::with_limit(window).order_by_score())?;
            let exhausted = top.len() < window;
            let mut hits = Vec::with_capacity(limit);
            for (score, address) in &top {
                let doc: TantivyDocument = searcher.doc(*address)?;
                let Some(id) = doc.get_first(self.id_field).and_then(|v| v.as_str()) else {
                    continue;
                };
                if exclude(id) {
                    continue;
                }
                hits.push(TextHit {
                    item_id: id.to_owned(),
                    score: *score,
                });
                if hits.len() == limit {
                    return Ok(hits);
                }
            }
            if exhausted {
                return Ok(hits);
            }
            window = window.saturating_mul(4);
        }
    }

    /// The query for `text`: per field, the distinct terms of the field's tokenizer, each a
    /// BM25 term query; fields boosted; all OR-ed. `None` when the text has no terms.
    fn build_query(&self, text: &str) -> Option<BooleanQuery> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (conf, field) in &self.fields {
            let mut analyzer = self
                .index
                .tokenizers()
                .get(conf.tokenizer.tantivy_name())
                .unwrap_or_else(|| analyzer_for(conf.tokenizer));
            let mut terms = BTreeSet::new();
            let mut stream = analyzer.token_stream(text);
            while let Some(token) = stream.next() {
                if terms.len() >= MAX_QUERY_TERMS {
                    break;
                }
                terms.insert(token.text.clone());
            }
            if terms.is_empty() {
                continue;
            }
            let term_queries: Vec<(Occur, Box<dyn Query>)> = terms
                .into_iter()
                .map(|t| {
                    let query = TermQuery::new(
                        Term::from_field_text(*field, &t),
                        IndexRecordOption::WithFreqs,
                    );
                    (Occur::Should, Box::new(query) as Box<dyn Query>)
                })
                .collect();
            let field_query: Box<dyn Query> = Box::new(BooleanQuery::new(term_queries));
            let field_query = if conf.boost == 1.0 {
                field_query
            } else {
                Box::new(BoostQuery::new(field_query, conf.boost))
            };
            clauses.push((Occur::Should, field_query));
        }
        (!clauses.is_empty()).then(|| BooleanQuery::new(clauses))
    }

    /// The number of searchable (committed, not deleted) items.
    pub fn len(&self) -> usize {
        self.reader.searcher().num_docs() as usize
    }

    /// Whether no item is searchable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The schema for `fields`: the id field first, then the text fields in order.
fn build_schema(fields: &[TextField]) -> Result<(Schema, Field, Vec<Field>), TextError> {
    if fields.is_empty() {
        return Err(TextError::InvalidFields("no fields configured".into()));
    }
    let mut seen = BTreeSet::new();
    for f in fields {
        if f.name.is_empty() || f.name.starts_with('-') || f.name == ID_FIELD {
            return Err(TextError::InvalidFields(format!(
                "`{}` cannot be used as a field name",
                f.name
            )));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(TextError::InvalidFields(format!(
                "field `{}` is listed twice",
                f.name
            )));
        }
        if !(f.boost.is_finite() && f.boost >= 0.0) {
            return Err(TextError::InvalidFields(format!(
                "field `{}` has boost {}; a boost must be finite and not negative",
                f.name, f.boost
            )));
        }
    }
    let mut builder = Schema::builder();
    let id_field = builder.add_text_field(ID_FIELD, STRING | STORED);
    let tantivy_fields = fields
        .iter()
        .map(|f| {
            let indexing = TextFieldIndexing::default()
                .set_tokenizer(f.tokenizer.tantivy_name())
                .set_index_option(IndexRecordOption::WithFreqsAndPositions);
            builder.add_text_field(
                &f.name,
                TextOptions::default().set_indexing_options(indexing),
            )
        })
        .collect();
    Ok((builder.build(), id_field, tantivy_fields))
}

/// `name(tokenizer), …` for the text fields of `schema`, for error messages.
fn describe_schema(schema: &Schema) -> String {
    schema
        .fields()
        .filter(|(_, entry)| entry.name() != ID_FIELD)
        .map(|(_, entry)| {
            let tokenizer = match entry.field_type() {
                tantivy::schema::FieldType::Str(options) => options
                    .get_indexing_options()
                    .map(|i| i.tokenizer().to_owned())
                    .unwrap_or_else(|| "not indexed".to_owned()),
                other => format!("{:?}", other.value_type()),
            };
            format!("{}({tokenizer})", entry.name())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn register_tokenizers(index: &Index) {
    for tokenizer in [TextTokenizer::Default, TextTokenizer::Chinese] {
        index
            .tokenizers()
            .register(tokenizer.tantivy_name(), analyzer_for(tokenizer));
    }
}

fn analyzer_for(tokenizer: TextTokenizer) -> TextAnalyzer {
    match tokenizer {
        TextTokenizer::Default => TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LEN))
            .filter(LowerCaser)
            .filter(Stemmer::default())
            .build(),
        TextTokenizer::Chinese => TextAnalyzer::builder(JiebaTokenizer)
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LEN))
            .filter(LowerCaser)
            .build(),
    }
}

/// The jieba dictionary, loaded once (a few hundred milliseconds) on first use.
static JIEBA: LazyLock<jieba_rs::Jieba> = LazyLock::new(jieba_rs::Jieba::new);

/// A tantivy tokenizer over jieba's search-mode segmentation, without HMM: the HMM joins
/// unknown characters into new words that depend on their neighbours (`读三体` in a sentence
/// but `三体` alone), so a query would miss them; without it, dictionary words are found the
/// same way in any context and unknown words fall back to single characters, which a query
/// for the word still matches. Tokens without any alphanumeric
/// character (whitespace, punctuation) are dropped. A token's position is its character
/// offset, so sub-words of a long word keep their place relative to the other words; tokens
/// come out ordered by position.
#[derive(Clone, Copy, Debug, Default)]
struct JiebaTokenizer;

/// The tokens of one text, produced up front.
struct JiebaTokenStream {
    tokens: Vec<Token>,
    index: usize,
}

impl Tokenizer for JiebaTokenizer {
    type TokenStream<'a> = JiebaTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> JiebaTokenStream {
        let mut tokens: Vec<Token> = JIEBA
            .cut_for_search(text, false)
            .into_iter()
            .filter(|t| t.word.chars().any(char::is_alphanumeric))
            .map(|t| Token {
                offset_from: t.byte_start,
                offset_to: t.byte_end,
                position: t.start,
                text: t.word.to_owned(),
                position_length: 1,
            })
            .collect();
        // Search mode emits a long word's sub-words before the word itself; tantivy needs the
        // positions of each term in non-decreasing order, so order tokens by position.
        tokens.sort_by_key(|t| (t.position, t.offset_to));
        JiebaTokenStream { tokens, index: 0 }
    }
}

impl TokenStream for JiebaTokenStream {
    fn advance(&mut self) -> bool {
        if self.index < self.tokens.len() {
            self.index += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.index - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.index - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(tokenizer: TextTokenizer, text: &str) -> Vec<String> {
        let mut analyzer = analyzer_for(tokenizer);
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push(t.text.clone());
        }
        out
    }

    #[test]
    fn default_tokenizer_lowercases_and_stems() {
        assert_eq!(
            tokens(TextTokenizer::Default, "The Hunger Games!"),
            ["the", "hunger", "game"]
        );
    }

    #[test]
    fn chinese_tokenizer_segments_and_drops_punctuation() {
        let t = tokens(
            TextTokenizer::Chinese,
            "我喜欢读三体，Hello World。中华人民共和国",
        );
        assert!(t.contains(&"喜欢".to_owned()), "{t:?}");
        assert!(t.contains(&"hello".to_owned()), "{t:?}");
        // Search mode: a long word also yields its sub-words.
        assert!(t.contains(&"中华人民共和国".to_owned()), "{t:?}");
        assert!(t.contains(&"人民".to_owned()), "{t:?}");
        assert!(
            !t.iter()
                .any(|w| w == "，" || w == "。" || w.trim().is_empty()),
            "{t:?}"
        );
        // A word's tokens alone are among its tokens inside a sentence.
        for word in ["三体", "喜欢", "共和国"] {
            for token in tokens(TextTokenizer::Chinese, word) {
                assert!(t.contains(&token), "{word}: {token} not in {t:?}");
            }
        }
    }
}
