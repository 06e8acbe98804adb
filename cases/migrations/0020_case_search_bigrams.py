"""Chinese search through a bigram index, for terms of any length (replaces the trigram index).

Most Chinese words are two characters, and people also type one character or a piece of a
case code: a trigram index cannot serve terms under three characters, which read the whole
table. There is no pg_bigm in Debian's PostgreSQL, so the bigrams are built in SQL:

- `case_search_bigrams(text)`: a tsvector whose lexemes are every pair of adjacent
  characters of the (upper-cased) search text, the last character paired with an end mark
  (U+001E), so that every character starts at least one lexeme. Lexemes are compared
  bytewise, and a tsvector's GIN index supports prefix matches (`'x':*`).
- `case_search_query(term)`: the tsquery that every text containing `term` matches: all of
  its bigrams (end-marked ones left out), or for one character the prefix `'x':*` (any
  bigram starting with it); NULL for an empty term, which every text contains.

The index is a filter: the search still requires the LIKE on `case_search_text` (cases.search),
which is exact. The trigram index gave the planner that expression's statistics (how often a
LIKE matches, which decides between reading a common term's first rows in any order and
reading a rare term's through the index); statistics on the expression keep them. Built with regexp_replace and string_to_array (C functions, no set-returning
subqueries: 1,000,000 cases index in about 40 s on 2 cores, the trigram index took 25).
"""

from django.db import migrations

BIGRAMS_SQL = r"""
CREATE OR REPLACE FUNCTION case_search_bigrams(t text)
RETURNS tsvector LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    -- Pairs at even offsets, then at odd ones (U+001F separates them, U+001E ends the text;
    -- either in the text itself reads as a space, on both sides of a search alike).
    SELECT array_to_tsvector(array_remove(array_remove(
        string_to_array(
            regexp_replace(translate(t, E'\x1E\x1F', '  ') || E'\x1E',
                           '(..)', E'\\1\x1F', 'g'),
            E'\x1F')
        || string_to_array(
            regexp_replace(substr(translate(t, E'\x1E\x1F', '  '), 2) || E'\x1E',
                           '(..)', E'\\1\x1F', 'g'),
            E'\x1F'),
        ''), E'\x1E'))
$$;
CREATE OR REPLACE FUNCTION case_search_query(term text)
RETURNS tsquery LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN length(term) = 0 THEN NULL  -- no pair to look for: cases.search does not ask
        WHEN length(term) = 1 THEN
            ('''' || replace(replace(translate(term, E'\x1E\x1F', '  '), '\', '\\'), '''', '''''')
             || ''':*')::tsquery
        ELSE array_to_string(ARRAY(
            SELECT '''' || replace(replace(pair, '\', '\\'), '''', '''''') || ''''
            FROM unnest(tsvector_to_array(case_search_bigrams(term))) pair
            WHERE strpos(pair, E'\x1E') = 0
        ), ' & ')::tsquery
    END
$$;
CREATE INDEX IF NOT EXISTS case_search_bigram ON cases_case
    USING gin (case_search_bigrams(case_search_text(code, title, description)));
DROP INDEX IF EXISTS case_search_trgm;
CREATE STATISTICS IF NOT EXISTS case_search_text_stats
    ON (case_search_text(code, title, description)) FROM cases_case;
"""

BIGRAMS_DROP = """
DROP STATISTICS IF EXISTS case_search_text_stats;
CREATE INDEX IF NOT EXISTS case_search_trgm ON cases_case
    USING gin (case_search_text(code, title, description) gin_trgm_ops);
DROP INDEX IF EXISTS case_search_bigram;
DROP FUNCTION IF EXISTS case_search_query(text);
DROP FUNCTION IF EXISTS case_search_bigrams(text);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BIGRAMS_SQL)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BIGRAMS_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0019_case_not_for_publication"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
