"""Chinese search: a case code's pieces indexed apart from the text's pairs (replaces the bigram
index of cases 0020).

A piece of a case code ("063-2726") is made of pairs that every code holds ("06", "-2", "72"):
the bigram index read most of its entries to find a few cases (about half a second at a million
cases). So the index now keeps two kinds of entries:

- the pairs of adjacent characters of the title and description, as before (`' ' || title || ' '
  || description`, upper-cased: the separator before the title belongs to them), where digits
  and Latin letters are rare;
- the code's runs of three characters, each marked with U+001D so that they never mix with the
  pairs, over the code followed by the first nine characters of the rest, and end-marked
  (U+001E) so that every character starts one.

`case_search_text(code, title, description)` holds a term at some place: within the code or
running from it into the title (its first ten characters then lie in the code's runs), or
within the rest (its pairs lie there). So `case_search_grams_query(term)` asks for either the
term's pairs, or the marked runs of its first ten characters (for a term of one or two: a marked
run starting with it). The index is a filter; the LIKE on `case_search_text` (cases.search)
decides, as before. U+001D, U+001E and U+001F in a text or a term read as a space on both sides.

The functions of the indexed expression are not STRICT, so that the planner inlines them: a
STRICT SQL function whose body calls a function that is not (array_remove) is run through the
SQL-function executor for every row, which doubled the cost of computing it (80 s rather than
40 over a million cases on 2 cores). Given a NULL, they return NULL or an empty vector all the same.
`case_search_grams` names its helpers with their schema (the migration's): a restore
(pg_dump's empty search_path) builds the index with it.
"""

from django.db import migrations

GRAMS_SQL = r"""
CREATE OR REPLACE FUNCTION case_search_pairs(t text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- Pairs at even offsets, then at odd ones, the last character paired with U+001E; the
    -- text's own U+001D..U+001F read as spaces.
    SELECT array_remove(array_remove(
        string_to_array(
            regexp_replace(translate(t, E'\x1D\x1E\x1F', '   ') || E'\x1E',
                           '(..)', E'\\1\x1F', 'g'),
            E'\x1F')
        || string_to_array(
            regexp_replace(substr(translate(t, E'\x1D\x1E\x1F', '   '), 2) || E'\x1E',
                           '(..)', E'\\1\x1F', 'g'),
            E'\x1F'),
        ''), E'\x1E')
$$;
CREATE OR REPLACE FUNCTION case_search_runs(t text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- Runs of three at offsets 0, 1 and 2, each after U+001D, the text end-marked twice so
    -- that every character starts a run; what is left over is end marks only, and dropped.
    SELECT array_remove(array_remove(array_remove(
        string_to_array(
            regexp_replace(translate(t, E'\x1D\x1E\x1F', '   ') || E'\x1E\x1E',
                           '(...)', E'\x1D\\1\x1F', 'g'), E'\x1F')
        || string_to_array(
            regexp_replace(substr(translate(t, E'\x1D\x1E\x1F', '   ') || E'\x1E\x1E', 2),
                           '(...)', E'\x1D\\1\x1F', 'g'), E'\x1F')
        || string_to_array(
            regexp_replace(substr(translate(t, E'\x1D\x1E\x1F', '   ') || E'\x1E\x1E', 3),
                           '(...)', E'\x1D\\1\x1F', 'g'), E'\x1F'),
        ''), E'\x1E'), E'\x1E\x1E')
$$;
CREATE OR REPLACE FUNCTION case_search_grams(code text, title text, description text)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_to_tsvector(
        @schema@.case_search_pairs(upper(' ' || title || ' ' || description))
        || @schema@.case_search_runs(upper(code || left(' ' || title || ' ' || description, 9))))
$$;
CREATE OR REPLACE FUNCTION case_search_grams_query(term text)
RETURNS tsquery LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    WITH t AS (SELECT translate(term, E'\x1D\x1E\x1F', '   ') AS term),
    quoted AS (
        SELECT
            ARRAY(SELECT '''' || replace(replace(pair, '\', '\\'), '''', '''''') || ''''
                  FROM unnest(@schema@.case_search_pairs(t.term)) pair
                  WHERE strpos(pair, E'\x1E') = 0) AS pairs,
            ARRAY(SELECT '''' || replace(replace(run, '\', '\\'), '''', '''''') || ''''
                  FROM unnest(@schema@.case_search_runs(left(t.term, 10))) run
                  WHERE strpos(run, E'\x1E') = 0) AS runs,
            replace(replace(t.term, '\', '\\'), '''', '''''') AS quoted,
            length(t.term) AS n
        FROM t
    )
    SELECT CASE
        WHEN n = 0 THEN NULL  -- nothing to look for: cases.search does not ask
        ELSE (
            '(' || CASE WHEN n = 1 THEN '''' || quoted || ''':*'
                        ELSE array_to_string(pairs, ' & ') END
            || ') | ('
            || CASE WHEN n <= 2 THEN E'''\x1D' || quoted || ''':*'
                    ELSE array_to_string(runs, ' & ') END
            || ')'
        )::tsquery
    END
    FROM quoted
$$;
CREATE INDEX IF NOT EXISTS case_search_grams ON cases_case
    USING gin (case_search_grams(code, title, description));
DROP INDEX IF EXISTS case_search_bigram;
"""

GRAMS_DROP = """
CREATE INDEX IF NOT EXISTS case_search_bigram ON cases_case
    USING gin (case_search_bigrams(case_search_text(code, title, description)));
DROP INDEX IF EXISTS case_search_grams;
DROP FUNCTION IF EXISTS case_search_grams_query(text);
DROP FUNCTION IF EXISTS case_search_grams(text, text, text);
DROP FUNCTION IF EXISTS case_search_runs(text);
DROP FUNCTION IF EXISTS case_search_pairs(text);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            schema = schema_editor.quote_name(cursor.fetchone()[0])
        schema_editor.execute(GRAMS_SQL.replace("@schema@", schema))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GRAMS_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0020_case_search_bigrams"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
