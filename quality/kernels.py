"""The compiled loops of the quality rules (numba), in one module imported on first use.

numpy's per-call cost and one Python operation per chunk or n-gram bounded the
rule chain; these loops do that work in one pass each. Their callers explain
what they compute: `quality.text_stats` (the chunk table, sentence starts),
`quality.ngrams` (n-gram counts), `quality.vocabulary` (word features: length,
hash, character questions). They are imported inside the functions that call them, so a
process that only builds a pipeline (the curate driver, the CLI) never loads
numba. Compiled once per checkout and cached in `__pycache__`.
"""

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _slot(h, mask):
    """A table slot for the 64-bit key h: mixed, the high bits folded in, masked."""
    h *= np.uint64(0x9E3779B97F4A7C15)
    return np.int64((h ^ (h >> np.uint64(29))) & np.uint64(mask))


@numba.njit(cache=True, inline="always")
def _pair_slot(a, b, mask):
    """A table slot for the key (a, b)."""
    return _slot(np.uint64(a) ^ (np.uint64(b) * np.uint64(0xC2B2AE3D27D4EB4F)), mask)


@numba.njit(cache=True)
def _grown(array, size, keep):
    """`array` if it holds `size` entries, else a copy of its first `keep` entries with room for at least
    `size` (doubling, so that filling it stays linear)."""
    if len(array) >= size:
        return array
    out = np.empty(max(size, 2 * len(array)), array.dtype)
    out[:keep] = array[:keep]
    return out


@numba.njit(cache=True)
def find_chunks(points, is_space, table, chunk_points, used, known):
    """The chunks of `points` (runs of characters between whitespace, as str.split() cuts them) looked up
    in the chunk table, the new ones added: (rows, starts, ends, new_starts, new_ends, table,
    chunk_points, used). Each chunk gets its row; a chunk not in the table gets the next row (from
    `known` on, in order of first occurrence) and its characters are stored from `used` on. A table slot
    holds (64-bit FNV-1a hash, row + 1, start, length) of a chunk whose characters are
    chunk_points[start:start + length] (row + 1 == 0: the slot is free); a row matches only a chunk of
    the same characters. The table (at most half full) and `chunk_points` grow as needed.

    The chunks are found first and looked up in a second loop: its iterations do not wait on each
    other, so the processor overlaps their table reads (about 20% faster than one loop)."""
    starts, ends, hashes = _chunks(points, is_space)
    rows, new_at = np.empty(len(starts), np.int64), np.empty(len(starts), np.int64)
    chunk_points = _grown(chunk_points, used + len(points), used)  # room for every character to be new
    state = np.array([0, 0, used])  # chunks looked up, new chunks, characters stored
    while not _look_up(points, starts, ends, hashes, table, chunk_points, known, state, rows, new_at):
        table = _rehashed(table, 2 * len(table))
    new_at = new_at[: state[1]]
    return rows, starts, ends, starts[new_at], ends[new_at], table, chunk_points, state[2]


@numba.njit(cache=True)
def _chunks(points, is_space):
    """(starts, ends, 64-bit FNV-1a hashes) of the chunks of `points`."""
    size, spaces = len(points), len(is_space)
    starts = np.empty(size // 2 + 1, np.int64)
    ends, hashes = np.empty_like(starts), np.empty(len(starts), np.uint64)
    found, i = 0, 0
    while i < size:
        if points[i] < spaces and is_space[points[i]]:
            i += 1
            continue
        j, h = i, np.uint64(0xCBF29CE484222325)
        while j < size and not (points[j] < spaces and is_space[points[j]]):
            h = (h ^ np.uint64(points[j])) * np.uint64(0x100000001B3)
            j += 1
        starts[found], ends[found], hashes[found] = i, j, h
        found += 1
        i = j
    return starts[:found], ends[:found], hashes[:found]


@numba.njit(cache=True)
def _look_up(points, starts, ends, hashes, table, chunk_points, known, state, rows, new_at):
    """`find_chunks`' lookups from chunk state[0] on, in a table that does not grow: False when it stopped
    at a new chunk that would make the table more than half full (`state` says where)."""
    mask = len(table) - 1
    c, added, used = state[0], state[1], state[2]
    done = True
    while c < len(starts):
        i, h, length = starts[c], hashes[c], ends[c] - starts[c]
        s, row = _slot(h, mask), -1
        while table[s, 1] != 0:
            if table[s, 0] == h and table[s, 3] == length:
                at, k = np.int64(table[s, 2]), 0
                while k < length and chunk_points[at + k] == points[i + k]:
                    k += 1
                if k == length:
                    row = np.int64(table[s, 1]) - 1
                    break
            s = (s + 1) & mask
        if row < 0:
            if 2 * (known + added + 1) > len(table):
                done = False
                break
            row = known + added
            chunk_points[used : used + length] = points[i : i + length]
            table[s, 0], table[s, 1], table[s, 2], table[s, 3] = h, row + 1, used, length
            used += length
            new_at[added] = c
            added += 1
        rows[c] = row
        c += 1
    state[0], state[1], state[2] = c, added, used
    return done


@numba.njit(cache=True)
def _rehashed(table, size):
    """The slots of `table` in a table of `size` slots (a power of two)."""
    out = np.zeros((size, 4), np.uint64)
    for old in range(len(table)):
        if table[old, 1] != 0:
            s = _slot(table[old, 0], size - 1)
            while out[s, 1] != 0:
                s = (s + 1) & (size - 1)
            out[s] = table[old]
    return out


@numba.njit(cache=True)
def learn_chunks(first, count, ids, size, known, chunk_lengths, token_lengths, token_ids):
    """Record the tokens of the new chunks of rows known, known + 1, ...: each row's first token id in
    `ids` (from `size` on) and how many it has. Every character of a chunk is in exactly one of its
    tokens, in order, so a chunk's tokens are read off the lengths. Returns (first, count, ids), grown
    as needed."""
    rows = len(chunk_lengths)
    first, count = _grown(first, known + rows, known), _grown(count, known + rows, known)
    ids = _grown(ids, size + len(token_ids), size)
    ids[size : size + len(token_ids)] = token_ids
    t = 0
    for c in range(rows):
        first[known + c], chars = size + t, 0
        while chars < chunk_lengths[c] and t < len(token_lengths):
            chars += token_lengths[t]
            t += 1
        count[known + c] = size + t - first[known + c]
    return first, count, ids


@numba.njit(cache=True)
def chunk_token_ids(rows, first, count, ids):
    """(the token ids of the chunks with these rows, in order; how many tokens each chunk has)."""
    counts = np.empty(len(rows), np.int64)
    total = 0
    for k in range(len(rows)):
        counts[k] = count[rows[k]]
        total += counts[k]
    out = np.empty(total, np.int64)
    at = 0
    for k in range(len(rows)):
        f = first[rows[k]]
        for q in range(counts[k]):
            out[at + q] = ids[f + q]
        at += counts[k]
    return out, counts


@numba.njit(cache=True)
def later_sentence_starts(roles, ids, starts, counts, line_starts, word, punctuation, terminal):
    """How many tokens start a sentence that is not the first of its line: a `word` token right after a
    `terminal` one, `punctuation` in between skipped (roles[id]: the token's role). The tokens are the
    ids, counts[c] of them for the chunk at starts[c]; line k starts at line_starts[k]."""
    out, t, line, before = 0, 0, 0, -1  # before: the role of the line's last token that is not punctuation
    for c in range(len(starts)):
        while line + 1 < len(line_starts) and starts[c] >= line_starts[line + 1]:
            line, before = line + 1, -1
        for _ in range(counts[c]):
            role = roles[ids[t]]
            t += 1
            if role != punctuation:
                out += role == word and before == terminal
                before = role
    return out


@numba.njit(cache=True)
def repetition_counts(ids, lengths, hashes, has_space, powers, top_wanted, dup_wanted):
    """(top[n], dup[n], spaced) for n up to len(top_wanted) - 1: `quality.ngrams.repetition_chars`' values where
    wanted (0 where the document has no n-gram); dup[n] is -1 where the joined strings group differently
    from the words; spaced: whether a word has a space. lengths, hashes, has_space: by id (the word
    features); powers: base^q (computed here where too short)."""
    words = len(ids)
    offsets = np.zeros(words + 1, np.int64)  # of each word in "".join(words)
    word_hashes = np.empty(words, np.uint64)
    spaced = False
    for i in range(words):
        offsets[i + 1] = offsets[i] + lengths[ids[i]]
        word_hashes[i] = hashes[ids[i]]
        spaced |= has_space[ids[i]]
    if len(powers) <= offsets[words]:
        base, powers = powers[1], np.empty(offsets[words] + 1, np.uint64)
        powers[0] = 1
        for q in range(1, len(powers)):
            powers[q] = powers[q - 1] * base  # wraps: mod 2^64
    max_n = len(top_wanted) - 1
    top = np.zeros(max_n + 1, np.int64)
    dup = np.zeros(max_n + 1, np.int64)
    size = 16
    while size < 2 * words:
        size *= 2
    mask = size - 1
    # Open addressing with linear probing; a slot is in use at level n when its stamp is n.
    pair_stamp, pair_a, pair_b, pair_group = np.zeros(size, np.int64), np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size, np.int64)
    hash_stamp, hash_key = np.zeros(size, np.int64), np.empty(size, np.uint64)
    groups_of = np.zeros(words, np.int64)  # each position's group at the level before (level 0: one group)
    joined = np.zeros(words, np.uint64)  # hash of the n-gram at each position, words joined without spaces
    first = np.empty(words, np.int64)  # where each group first occurs
    size_before = np.full(words, 2, np.int64)  # members of each group at the level before
    members = np.empty(words, np.int64)
    seen = np.empty(words, np.bool_)
    for n in range(1, max_n + 1):
        count = words - n + 1
        if count <= 0:
            break
        groups = 0
        for i in range(count):
            before = groups_of[i]
            if size_before[before] == 1:  # its first n-1 words occur once: so does the n-gram
                group = groups
            else:
                word = ids[i + n - 1]
                s = _pair_slot(before, word, mask)
                while pair_stamp[s] == n and not (pair_a[s] == before and pair_b[s] == word):
                    s = (s + 1) & mask
                if pair_stamp[s] != n:
                    pair_stamp[s], pair_a[s], pair_b[s], pair_group[s] = n, before, word, groups
                group = pair_group[s]
            if group == groups:
                first[groups] = i
                members[groups] = 0
                groups += 1
            members[group] += 1
            groups_of[i] = group
            joined[i] += word_hashes[i + n - 1] * powers[offsets[i + n - 1] - offsets[i]]  # wraps: mod 2^64
        if top_wanted[n]:
            best, best_group = 0, 0
            for group in range(groups):  # groups are numbered in order of first occurrence: ties go to the first
                if members[group] > best:
                    best, best_group = members[group], group
            at = first[best_group]
            top[n] = (offsets[at + n] - offsets[at] + n - 1) * best
        if dup_wanted[n]:
            distinct = 0
            for i in range(count):
                h = joined[i]
                s = _slot(h, mask)
                while hash_stamp[s] == n and hash_key[s] != h:
                    s = (s + 1) & mask
                if hash_stamp[s] != n:
                    hash_stamp[s], hash_key[s] = n, h
                    distinct += 1
            if distinct != groups:
                dup[n] = -1
            else:
                seen[:groups] = False
                chars, i = 0, 0
                while i < count:  # skipping past each repeat, as the plain count does
                    if seen[groups_of[i]]:
                        chars += offsets[i + n] - offsets[i]
                        i += n
                    else:
                        seen[groups_of[i]] = True
                        i += 1
                dup[n] = chars
        size_before[:groups] = members[:groups]
    return top, dup, spaced


@numba.njit(cache=True)
def word_features(flags, known, points, lengths, base, at, length_out, hash_out, any_out, all_out):
    """Rows at, at + 1, ... of the word features (`quality.vocabulary`) for words of these lengths whose
    code points are joined in `points`: length; hash, sum of points[q] * base^(q - start) mod 2^64;
    any_out[k] / all_out[k], whether bit k of `flags` is set for any / every character. Returns the
    characters whose flags lack `known`; while there are any, nothing is written."""
    unknown, missing = np.empty(len(points), np.uint32), 0
    for point in points:
        if not flags[point] & known:
            unknown[missing] = point
            missing += 1
    if missing:
        return unknown[:missing]
    q = 0
    for word in range(len(lengths)):
        h, power, ored, anded = np.uint64(0), np.uint64(1), np.uint32(0), np.uint32(0xFFFFFFFF)
        for _ in range(lengths[word]):
            flag = flags[points[q]]
            ored |= flag
            anded &= flag
            h += np.uint64(points[q]) * power  # wraps: mod 2^64
            power *= base
            q += 1
        length_out[at + word], hash_out[at + word] = lengths[word], h
        for k in range(len(any_out)):
            any_out[k, at + word] = (ored >> k) & 1
            all_out[k, at + word] = (anded >> k) & 1
    return unknown[:0]
