#!/usr/bin/env python3
"""Builds Cascade's compact copy of goodbooks-10k from the full dataset.

Usage: python3 data/goodbooks/prepare.py [path/to/goodbooks-10k]

Writes, next to this script:
  books.csv    one row per book: the columns Cascade uses, plus `tags` (tag names joined by `|`,
               most-used first, from book_tags.csv where the dataset provides it)
  ratings.csv  user_id,book_id,rating  (prefix_subsets/ratings_prefix.csv, complete rows only)
  to_read.csv  user_id,book_id         (prefix_subsets/to_read_prefix.csv, complete rows only)
"""
import csv
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../shared/datasets/goodbooks-10k")
BOOK_COLUMNS = ["book_id", "title", "original_title", "authors", "original_publication_year",
                "language_code", "average_rating", "ratings_count"]


def tag_names():
    names = {}
    with open(os.path.join(SOURCE, "tags.csv"), newline="") as f:
        for row in csv.DictReader(f):
            names[row["tag_id"]] = row["tag_name"]
    return names


def book_tags():
    """goodreads_book_id -> tag names, most used first (only the sample file exists here)."""
    path = next(p for p in (os.path.join(SOURCE, "book_tags.csv"),
                            os.path.join(SOURCE, "samples/book_tags.csv")) if os.path.exists(p))
    names = tag_names()
    tags = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            tags.setdefault(row["goodreads_book_id"], []).append(names.get(row["tag_id"], ""))
    return tags


def write_books():
    tags = book_tags()
    with open(os.path.join(SOURCE, "books.csv"), newline="") as src, \
            open(os.path.join(HERE, "books.csv"), "w", newline="") as dst:
        writer = csv.writer(dst, lineterminator="\n")
        writer.writerow(BOOK_COLUMNS + ["tags"])
        for row in csv.DictReader(src):
            year = row["original_publication_year"]
            row["original_publication_year"] = year[:-2] if year.endswith(".0") else year
            names = [t for t in tags.get(row["goodreads_book_id"], []) if t]
            writer.writerow([row[c] for c in BOOK_COLUMNS] + ["|".join(names)])


def copy_complete_rows(source_name, target_name, columns):
    with open(os.path.join(SOURCE, "prefix_subsets", source_name), newline="") as src, \
            open(os.path.join(HERE, target_name), "w", newline="") as dst:
        reader = csv.reader(src)
        writer = csv.writer(dst, lineterminator="\n")
        writer.writerow(next(reader))
        for row in reader:
            if len(row) == columns and all(cell.strip() for cell in row):
                writer.writerow(row)


if __name__ == "__main__":
    write_books()
    copy_complete_rows("ratings_prefix.csv", "ratings.csv", 3)
    copy_complete_rows("to_read_prefix.csv", "to_read.csv", 2)
