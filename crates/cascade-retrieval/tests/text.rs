//! `TextIndex`: BM25 ranking of real titles, Chinese segmentation, exclusion, deletes,
//! persistence across reopen, schema checks and hostile queries.

use std::collections::BTreeMap;
use std::path::Path;

use cascade_core::{FieldValue, Item};
use cascade_retrieval::{TextError, TextField, TextHit, TextIndex, TextTokenizer};

/// `(book_id, title, authors)` of the first 50 books of the goodbooks sample.
fn goodbooks_50() -> Vec<(String, String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/goodbooks/books.csv");
    let text = std::fs::read_to_string(&path).expect("read books.csv");
    text.lines()
        .skip(1)
        .take(50)
        .map(|line| {
            let cells = split_csv_line(line);
            (cells[0].clone(), cells[1].clone(), cells[3].clone())
        })
        .collect()
}

/// Splits one CSV line (quoted cells with `""` escapes; no newlines inside cells).
fn split_csv_line(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(String::new()),
            (c, _) => cells.last_mut().unwrap().push(c),
        }
    }
    cells
}

fn item(id: &str, fields: &[(&str, FieldValue)]) -> Item {
    Item {
        id: id.to_owned(),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        embeddings: BTreeMap::new(),
    }
}

fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.to_owned())
}

fn book_fields() -> Vec<TextField> {
    vec![
        TextField::new("title", TextTokenizer::Default).with_boost(2.0),
        TextField::new("authors", TextTokenizer::Default),
    ]
}

fn books_index(dir: &Path) -> TextIndex {
    let index = TextIndex::open(dir, &book_fields()).unwrap();
    let items = goodbooks_50().into_iter().map(|(id, title, authors)| {
        item(&id, &[("title", text(&title)), ("authors", text(&authors))])
    });
    assert_eq!(index.build(items).unwrap(), 50);
    index
}

fn ids(hits: &[TextHit]) -> Vec<&str> {
    hits.iter().map(|h| h.item_id.as_str()).collect()
}

fn no_exclusions(_: &str) -> bool {
    false
}

#[test]
fn exact_title_query_ranks_that_book_first() {
    let dir = tempfile::tempdir().unwrap();
    let index = books_index(dir.path());
    assert_eq!(index.len(), 50);
    for (id, title, _) in goodbooks_50() {
        let hits = index.search(&title, 5, &no_exclusions).unwrap();
        assert_eq!(
            hits[0].item_id,
            id,
            "query {title:?} returned {:?}",
            ids(&hits)
        );
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
    // Case and word forms do not matter; a partial title finds the book.
    let hits = index.search("hunger GAME", 3, &no_exclusions).unwrap();
    assert_eq!(hits[0].item_id, "1", "{:?}", ids(&hits));
    let hits = index
        .search("chamber of secrets", 3, &no_exclusions)
        .unwrap();
    assert_eq!(hits[0].item_id, "23", "{:?}", ids(&hits));
    // The authors field is searched too.
    let hits = index.search("Salinger", 3, &no_exclusions).unwrap();
    assert_eq!(ids(&hits), ["8"]);
}

#[test]
fn chinese_query_matches_chinese_text() {
    let dir = tempfile::tempdir().unwrap();
    let fields = [
        TextField::new("title", TextTokenizer::Chinese).with_boost(2.0),
        TextField::new("description", TextTokenizer::Chinese),
    ];
    let index = TextIndex::open(dir.path(), &fields).unwrap();
    let items = [
        item(
            "santi",
            &[
                ("title", text("三体")),
                (
                    "description",
                    text("刘慈欣的科幻小说，讲述地球文明与三体文明的接触。"),
                ),
            ],
        ),
        item(
            "huozhe",
            &[
                ("title", text("活着")),
                ("description", text("余华的长篇小说，讲述福贵一生的苦难。")),
            ],
        ),
        item(
            "hongloumeng",
            &[
                ("title", text("红楼梦")),
                (
                    "description",
                    text("曹雪芹所著的中国古典小说，四大名著之一。"),
                ),
            ],
        ),
        item(
            "xiyouji",
            &[
                ("title", text("西游记")),
                ("description", text("吴承恩的神魔小说，唐僧师徒西天取经。")),
            ],
        ),
        item(
            "english",
            &[
                ("title", text("The Three-Body Problem")),
                ("description", text("Science fiction by Liu Cixin.")),
            ],
        ),
    ];
    assert_eq!(index.build(items.into_iter()).unwrap(), 5);
    index
        .upsert(&item(
            "note",
            &[("description", text("朋友说他最近在读三体。"))],
        ))
        .unwrap();
    index.commit().unwrap();

    let hits = index.search("三体", 5, &no_exclusions).unwrap();
    assert_eq!(hits[0].item_id, "santi", "{:?}", ids(&hits));
    assert!(ids(&hits).contains(&"note"), "{:?}", ids(&hits));
    let hits = index.search("红楼梦", 5, &no_exclusions).unwrap();
    assert_eq!(ids(&hits), ["hongloumeng"]);
    let hits = index.search("活着", 5, &no_exclusions).unwrap();
    assert_eq!(ids(&hits), ["huozhe"]);
    // Words inside longer sentences are found.
    let hits = index.search("科幻", 5, &no_exclusions).unwrap();
    assert_eq!(ids(&hits), ["santi"]);
    let hits = index.search("取经", 5, &no_exclusions).unwrap();
    assert_eq!(ids(&hits), ["xiyouji"]);
    let hits = index.search("古典", 5, &no_exclusions).unwrap();
    assert_eq!(ids(&hits), ["hongloumeng"]);
    // A query sentence finds the item whose word it contains.
    let hits = index
        .search("我想读一本关于苦难的书", 5, &no_exclusions)
        .unwrap();
    assert_eq!(hits[0].item_id, "huozhe", "{:?}", ids(&hits));
    // Latin words in a Chinese-tokenized field are lower-cased whole words.
    let hits = index.search("three body", 5, &no_exclusions).unwrap();
    assert_eq!(ids(&hits), ["english"]);
}

#[test]
fn exclude_removes_items() {
    let dir = tempfile::tempdir().unwrap();
    let index = books_index(dir.path());
    let all = index.search("Harry Potter", 10, &no_exclusions).unwrap();
    assert_eq!(all.len(), 7, "{:?}", ids(&all));
    let excluded = ["2", "18", "21"];
    let hits = index
        .search("Harry Potter", 10, &|id: &str| excluded.contains(&id))
        .unwrap();
    assert_eq!(hits.len(), 4, "{:?}", ids(&hits));
    assert!(hits.iter().all(|h| !excluded.contains(&h.item_id.as_str())));
    let expected: Vec<&TextHit> = all
        .iter()
        .filter(|h| !excluded.contains(&h.item_id.as_str()))
        .collect();
    assert_eq!(hits.iter().collect::<Vec<_>>(), expected);
    // The limit is filled from below the excluded ones.
    let first = &all[0].item_id;
    let hits = index
        .search("Harry Potter", 1, &|id: &str| id == first)
        .unwrap();
    assert_eq!(ids(&hits), [all[1].item_id.as_str()]);
    // Excluding everything leaves nothing.
    assert!(
        index
            .search("Harry Potter", 10, &|_| true)
            .unwrap()
            .is_empty()
    );
    assert!(
        index
            .search("Harry Potter", 0, &no_exclusions)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn deleted_item_is_never_returned_also_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = books_index(dir.path());
        index.delete("10").unwrap();
        // Not committed yet: still there.
        let hits = index
            .search("Pride and Prejudice", 3, &no_exclusions)
            .unwrap();
        assert_eq!(hits[0].item_id, "10");
        index.commit().unwrap();
        let hits = index
            .search("Pride and Prejudice", 50, &no_exclusions)
            .unwrap();
        assert!(!ids(&hits).contains(&"10"), "{:?}", ids(&hits));
        assert!(
            index
                .search("Prejudice", 50, &no_exclusions)
                .unwrap()
                .is_empty()
        );
        assert_eq!(index.len(), 49);
        index.delete("no-such-item").unwrap();
        index.commit().unwrap();
        assert_eq!(index.len(), 49);
    }
    let index = TextIndex::open(dir.path(), &book_fields()).unwrap();
    assert_eq!(index.len(), 49);
    assert!(
        index
            .search("Prejudice", 50, &no_exclusions)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn upsert_replaces_the_earlier_document() {
    let dir = tempfile::tempdir().unwrap();
    let index = TextIndex::open(dir.path(), &book_fields()).unwrap();
    assert!(index.is_empty());
    index
        .upsert(&item("a", &[("title", text("old title"))]))
        .unwrap();
    index.commit().unwrap();
    assert_eq!(ids(&index.search("old", 5, &no_exclusions).unwrap()), ["a"]);
    index
        .upsert(&item("a", &[("title", text("new title"))]))
        .unwrap();
    index.commit().unwrap();
    assert!(index.search("old", 5, &no_exclusions).unwrap().is_empty());
    assert_eq!(ids(&index.search("new", 5, &no_exclusions).unwrap()), ["a"]);
    assert_eq!(index.len(), 1);
    // Keyword and tags values are indexed too; tags are joined by spaces.
    index
        .upsert(&item(
            "b",
            &[
                ("title", FieldValue::Keyword("Dune".into())),
                (
                    "authors",
                    FieldValue::Tags(vec!["Frank Herbert".into(), "Brian".into()]),
                ),
            ],
        ))
        .unwrap();
    // Items without any configured text are not indexed (and lose an earlier version).
    index
        .upsert(&item("c", &[("price", FieldValue::Numeric(3.0))]))
        .unwrap();
    index.upsert(&item("a", &[("title", text("   "))])).unwrap();
    index.commit().unwrap();
    assert_eq!(
        ids(&index.search("herbert", 5, &no_exclusions).unwrap()),
        ["b"]
    );
    assert_eq!(
        ids(&index.search("dune brian", 5, &no_exclusions).unwrap()),
        ["b"]
    );
    assert!(index.search("new", 5, &no_exclusions).unwrap().is_empty());
    assert_eq!(index.len(), 1);
}

#[test]
fn reopen_returns_the_same_results_without_rebuilding() {
    let dir = tempfile::tempdir().unwrap();
    let queries = [
        "Harry Potter",
        "the",
        "Hunger Games",
        "George Orwell",
        "Twilight",
    ];
    let before: Vec<Vec<TextHit>> = {
        let index = books_index(dir.path());
        queries
            .iter()
            .map(|q| index.search(q, 10, &no_exclusions).unwrap())
            .collect()
    };
    // Boosts are query-time only: the same boosts give the same scores.
    let index = TextIndex::open(dir.path(), &book_fields()).unwrap();
    assert_eq!(index.len(), 50);
    for (q, expected) in queries.iter().zip(&before) {
        assert!(!expected.is_empty());
        assert_eq!(
            &index.search(q, 10, &no_exclusions).unwrap(),
            expected,
            "{q}"
        );
    }
    // Another boost reopens the same documents.
    drop(index);
    let fields = [
        TextField::new("title", TextTokenizer::Default),
        TextField::new("authors", TextTokenizer::Default).with_boost(3.0),
    ];
    let index = TextIndex::open(dir.path(), &fields).unwrap();
    assert_eq!(index.len(), 50);
}

#[test]
fn other_fields_or_tokenizers_are_a_schema_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    drop(books_index(dir.path()));
    let chinese = [
        TextField::new("title", TextTokenizer::Chinese),
        TextField::new("authors", TextTokenizer::Default),
    ];
    let err = TextIndex::open(dir.path(), &chinese).unwrap_err();
    assert!(matches!(err, TextError::SchemaMismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("title(cascade_default_v1)"), "{message}");
    assert!(message.contains("title(cascade_chinese_v1)"), "{message}");
    let fewer = [TextField::new("title", TextTokenizer::Default)];
    assert!(matches!(
        TextIndex::open(dir.path(), &fewer),
        Err(TextError::SchemaMismatch { .. })
    ));
    // The index is untouched.
    assert_eq!(
        TextIndex::open(dir.path(), &book_fields()).unwrap().len(),
        50
    );
}

#[test]
fn invalid_fields_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for fields in [
        vec![],
        vec![TextField::new("", TextTokenizer::Default)],
        vec![
            TextField::new("title", TextTokenizer::Default),
            TextField::new("title", TextTokenizer::Chinese),
        ],
        vec![TextField::new("title", TextTokenizer::Default).with_boost(f32::NAN)],
    ] {
        assert!(matches!(
            TextIndex::open(dir.path(), &fields),
            Err(TextError::InvalidFields(_))
        ));
    }
}

#[test]
fn weird_queries_return_ok() {
    let dir = tempfile::tempdir().unwrap();
    let index = books_index(dir.path());
    let long = "harry ".repeat(10_000);
    let queries = [
        "AND OR ((",
        "title:",
        "",
        "   ",
        "📚🔥",
        "\"unterminated phrase",
        "title:\"Harry Potter\"~2^3 +-*?",
        "[1 TO *] {} \\ / NOT",
        "\u{0}\u{ffff}",
        "ﾊﾘｰ・ポッター",
        &long,
    ];
    for q in queries {
        let result = index.search(q, 10, &no_exclusions);
        assert!(result.is_ok(), "{q:?}: {result:?}");
    }
    assert!(index.search("", 10, &no_exclusions).unwrap().is_empty());
    // Query syntax is plain text: `title:` does not restrict the field.
    let hits = index.search("title:Hobbit", 3, &no_exclusions).unwrap();
    assert_eq!(hits[0].item_id, "7");
    assert!(!index.search(&long, 10, &no_exclusions).unwrap().is_empty());
}
