//! Documents served as a sequence of shared chunks, and their gzip form kept up to date one
//! chunk at a time.
//!
//! Each chunk is deflated alone and ends with a full flush, so the compressed chunks of a
//! document join into one valid deflate stream. A chunk is compressed with the chunk before
//! it as its dictionary (as pigz does across its blocks): what a chart's entries share with
//! the chart before them — keys, descriptions, maintainers — costs a back-reference, not a
//! literal. That dictionary is exactly the text a decompressor has just produced, so the
//! stream stays valid; and a chunk's compressed form depends only on itself and its
//! predecessor, so a change to one chunk recompresses it and the chunk after it, nothing else.
//!
//! A chunk's text is kept deflated (alone, fast level) only for as long as it may be needed:
//! once a document's deflate forms are made, its chunks let their text go ([`Chunk::let_go`]),
//! and the owner gives it back ([`Chunk::restore`], by rendering it again) before a chunk is
//! compressed after another predecessor or serves as one's dictionary. A plain document is its
//! gzip form inflated ([`inflated`]). The gzip trailer's CRC is the chunks' CRCs combined, so a
//! document's gzip form never needs its whole text.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// Deflate's window: a dictionary longer than this is never referred to.
const WINDOW: usize = 32 * 1024;
/// Texts shorter than this are kept as they are; longer ones deflated alone (an index's text
/// takes a tenth of its size so).
const PACK_FROM: usize = 512;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Deflate and inflate states, reset between uses: a state holds a few hundred KiB, and
    /// one made per chunk (hundreds of thousands per registry-wide index) left the allocator
    /// holding that churn as resident memory long after the render.
    static PACK: std::cell::RefCell<flate2::Compress> = std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::fast(), false));
    // Level 6: on an index of 100,000 versions, 5.4 MiB in 0.5 s, where level 1 gave 8.8 MiB
    // in 0.3 s and levels 8 and 9 (zlib-rs) were slower for no more than 3 %.
    static GZIP: std::cell::RefCell<flate2::Compress> = std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::default(), false));
    static INFLATE: std::cell::RefCell<flate2::Decompress> = std::cell::RefCell::new(flate2::Decompress::new(false));
    /// Where deflate output is made before it is kept at its exact size: a kept `Vec` grown
    /// by guesses held two to three times its length (fragments counted 19 MiB at 100,000
    /// versions and held 55).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A piece of a document: its text (kept deflated, inflated when needed), the text's CRC, and
/// its deflate form made on first need for the chunk that precedes it.
pub struct Chunk {
    /// Unique for the life of the process: names this chunk's text, which never changes.
    id: u64,
    /// The text as kept; `None` once let go.
    stored: std::sync::Mutex<Option<Stored>>,
    /// Long enough to be kept deflated, and let go once its document is made.
    packed: bool,
    len: usize,
    crc: u32,
    /// The deflate form and the id of the chunk it was compressed after (0: the first).
    deflated: std::sync::Mutex<Option<(u64, Bytes)>>,
}

impl Chunk {
    pub fn new(plain: impl Into<Bytes>) -> Arc<Self> {
        let plain: Bytes = plain.into();
        let crc = crc32fast::hash(&plain);
        let len = plain.len();
        let packed = len >= PACK_FROM;
        let stored = if packed { Stored::Deflated(pack(&plain)) } else { Stored::Plain(plain) };
        Arc::new(Self { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), stored: std::sync::Mutex::new(Some(stored)), packed, len, crc, deflated: std::sync::Mutex::new(None) })
    }

    /// The text, unless let go.
    pub fn text(&self) -> Option<Bytes> {
        let stored = match self.stored.lock().expect("not poisoned").clone()? {
            Stored::Plain(plain) => return Some(plain),
            Stored::Deflated(stored) => stored,
        };
        let mut out = Vec::with_capacity(self.len);
        INFLATE.with_borrow_mut(|inflate| {
            inflate.reset(false);
            while out.len() < self.len {
                let before = inflate.total_in();
                let input = &stored[usize::try_from(before).expect("fits")..];
                inflate.decompress_vec(input, &mut out, flate2::FlushDecompress::Finish).expect("a chunk this process deflated");
                if inflate.total_in() == before && out.len() < self.len {
                    out.reserve(self.len - out.len());
                }
            }
        });
        Some(Bytes::from(out))
    }

    /// Whether the text was let go.
    pub fn text_let_go(&self) -> bool {
        self.stored.lock().expect("not poisoned").is_none()
    }

    /// Lets the text go, if long enough to matter (short ones are kept: cheaper than
    /// rendering them again).
    pub fn let_go(&self) {
        if self.packed {
            self.stored.lock().expect("not poisoned").take();
        }
    }

    /// Gives back a text let go, kept as it is (not deflated: it is wanted now, and let go
    /// again once its document is made); false (and nothing changes) when `plain` is not that
    /// text.
    pub fn restore(&self, plain: Bytes) -> bool {
        if plain.len() != self.len || crc32fast::hash(&plain) != self.crc {
            return false;
        }
        let mut stored = self.stored.lock().expect("not poisoned");
        if stored.is_none() {
            *stored = Some(Stored::Plain(plain));
        }
        true
    }

    /// The predecessor this chunk's deflate form was made after (0: none), if made.
    pub fn deflated_after_id(&self) -> Option<u64> {
        self.deflated.lock().expect("not poisoned").as_ref().map(|(after, _)| *after)
    }

    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Length of the text.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of memory the chunk holds (its text while kept, and its deflate form when made).
    pub fn held_bytes(&self) -> usize {
        self.stored.lock().map_or(0, |s| s.as_ref().map_or(0, |s| match s {
            Stored::Plain(b) | Stored::Deflated(b) => b.len(),
        })) + self.deflated.lock().map_or(0, |d| d.as_ref().map_or(0, |(_, b)| b.len()))
    }

    /// The deflate form of this chunk when it follows `previous` in a document. Both texts
    /// must be there unless that form was made before: the owner restores them first.
    fn deflated_after(&self, previous: Option<&Self>) -> Bytes {
        let key = previous.map_or(0, |p| p.id);
        let mut cached = self.deflated.lock().expect("not poisoned");
        if let Some((after, bytes)) = &*cached
            && *after == key
        {
            return bytes.clone();
        }
        let dictionary = previous.filter(|p| p.len > 0).map(|p| p.text().expect("the predecessor's text is restored before compressing after it"));
        let text = self.text().expect("a chunk's text is restored before it is compressed");
        let bytes = GZIP.with_borrow_mut(|compress| {
            compress.reset();
            if let Some(dictionary) = &dictionary {
                compress.set_dictionary(&dictionary[dictionary.len().saturating_sub(WINDOW)..]).expect("a dictionary before any input");
            }
            deflated(compress, &text, flate2::FlushCompress::Full)
        });
        *cached = Some((key, bytes.clone()));
        bytes
    }
}

/// A chunk's text as kept: as it is (short texts, and texts restored for a render), or
/// deflated alone.
#[derive(Clone)]
enum Stored {
    Plain(Bytes),
    Deflated(Bytes),
}

/// `plain` deflated alone, at the fast level.
fn pack(plain: &[u8]) -> Bytes {
    PACK.with_borrow_mut(|compress| {
        compress.reset();
        deflated(compress, plain, flate2::FlushCompress::Finish)
    })
}

/// `input` through `compress`, as bytes of their exact size.
fn deflated(compress: &mut flate2::Compress, input: &[u8], flush: flate2::FlushCompress) -> Bytes {
    SCRATCH.with_borrow_mut(|out| {
        out.clear();
        deflate_into(compress, input, out, flush);
        let kept = Bytes::copy_from_slice(out);
        // One large chunk must not leave its buffer held by the thread for good.
        if out.capacity() > 1 << 20 {
            *out = Vec::new();
        }
        kept
    })
}

fn deflate_into(compress: &mut flate2::Compress, mut input: &[u8], out: &mut Vec<u8>, flush: flate2::FlushCompress) {
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let before = compress.total_in();
        let status = compress.compress_vec(input, out, flush).expect("deflate into memory");
        input = &input[usize::try_from(compress.total_in() - before).expect("fits")..];
        // Done once the input is used and the compressor left output room unused (so a
        // flush is complete), or the stream is finished.
        if status == flate2::Status::StreamEnd || (input.is_empty() && out.len() < out.capacity() && flush != flate2::FlushCompress::Finish) {
            break;
        }
    }
}

/// One gzip member made of the chunks' deflate forms, as the parts of a body: header, the
/// chunks (shared with their caches, not copied), an empty final block, and the CRC (the
/// chunks' CRCs combined) and length of the whole.
pub fn gzip(chunks: &[Arc<Chunk>]) -> Vec<Bytes> {
    let mut parts = Vec::with_capacity(chunks.len() + 2);
    parts.push(Bytes::from_static(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]));
    let mut crc = crc32fast::Hasher::new();
    let mut length: u64 = 0;
    let mut previous: Option<&Chunk> = None;
    for chunk in chunks {
        parts.push(chunk.deflated_after(previous));
        crc.combine(&crc32fast::Hasher::new_with_initial_len(chunk.crc, chunk.len as u64));
        length += chunk.len as u64;
        previous = Some(chunk);
    }
    let mut tail = vec![0x03, 0x00];
    tail.extend_from_slice(&crc.finalize().to_le_bytes());
    #[allow(clippy::cast_possible_truncation)] // gzip keeps the length modulo 2^32
    tail.extend_from_slice(&(length as u32).to_le_bytes());
    parts.push(Bytes::from(tail));
    parts
}

/// The text of a document from the parts [`gzip`] made: each chunk's part inflated in turn
/// (one stream across them, so each may refer back to the one before), one part of text per
/// chunk, made as the body is sent rather than all at once.
pub fn inflated(parts: Arc<Vec<Bytes>>) -> impl Iterator<Item = Bytes> + Send {
    let mut inflate = flate2::Decompress::new(false);
    // Header first, final block and trailer last: the chunks are in between.
    let chunks = 1..parts.len().saturating_sub(1);
    chunks.map(move |i| {
        let input = &parts[i];
        let mut out = Vec::with_capacity(input.len() * 8);
        let start = inflate.total_in();
        while usize::try_from(inflate.total_in() - start).expect("fits") < input.len() {
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity().max(4096));
            }
            let before = (inflate.total_in(), inflate.total_out());
            inflate.decompress_vec(&input[usize::try_from(before.0 - start).expect("fits")..], &mut out, flate2::FlushDecompress::Sync).expect("a document this process deflated");
            if (inflate.total_in(), inflate.total_out()) == before && out.capacity() > out.len() {
                break;
            }
        }
        // What a full flush left buffered comes out with more room.
        loop {
            out.reserve(4096);
            let before = inflate.total_out();
            inflate.decompress_vec(&[], &mut out, flate2::FlushDecompress::Sync).expect("a document this process deflated");
            if inflate.total_out() == before {
                break;
            }
        }
        Bytes::from(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gunzip(bytes: &[u8]) -> String {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(bytes), &mut text).unwrap();
        text
    }

    fn text_of(chunks: &[Arc<Chunk>]) -> String {
        chunks.iter().map(|c| String::from_utf8(c.text().unwrap().to_vec()).unwrap()).collect()
    }

    fn joined(parts: &[Bytes]) -> Vec<u8> {
        parts.concat()
    }

    fn entry(i: usize) -> String {
        format!("  chart-{i:05}:\n  - name: chart-{i:05}\n    description: the chart numbered {i}\n    digest: {:064x}\n", i * 7919)
    }

    #[test]
    fn joined_chunks_are_one_gzip_document_and_stay_valid_as_chunks_change() {
        let head = Chunk::new(Bytes::from_static(b"entries:\n"));
        let comma = Bytes::from_static(b",");
        let mut chunks: Vec<Arc<Chunk>> = vec![head];
        chunks.extend((0..50).map(|i| Chunk::new(entry(i))));
        // A long chunk (kept deflated), and an empty one.
        chunks.push(Chunk::new([&comma[..], entry(50).repeat(20).as_bytes()].concat()));
        chunks.push(Chunk::new(Bytes::new()));
        chunks.push(Chunk::new("generated: now\n"));
        let first_parts = gzip(&chunks);
        let first = joined(&first_parts);
        assert_eq!(gunzip(&first), text_of(&chunks));
        let plain: Vec<u8> = inflated(Arc::new(first_parts)).collect::<Vec<_>>().concat();
        assert_eq!(String::from_utf8(plain).unwrap(), text_of(&chunks), "the plain text, inflated from the gzip parts");

        // Replace, remove and insert chunks: cached forms made after another predecessor
        // must not be reused.
        chunks[10] = Chunk::new(entry(1000));
        chunks.remove(20);
        chunks.insert(30, Chunk::new(entry(2000)));
        chunks.swap(3, 4);
        let second = joined(&gzip(&chunks));
        assert_eq!(gunzip(&second), text_of(&chunks));
        assert_ne!(first, second);
    }

    #[test]
    fn texts_let_go_come_back_when_a_neighbour_changes() {
        let texts: Vec<String> = (0..6).map(|i| entry(i).repeat(8)).collect();
        let mut chunks: Vec<Arc<Chunk>> = texts.iter().map(|t| Chunk::new(t.clone())).collect();
        let first = joined(&gzip(&chunks));
        for c in &chunks {
            c.let_go();
            assert!(c.text_let_go() && c.text().is_none());
        }
        // Unchanged: the deflate forms made before serve without any text.
        assert_eq!(joined(&gzip(&chunks)), first);
        // A changed chunk in the middle: it and its predecessor (the dictionary) and successor
        // (compressed after another predecessor) need their texts; a wrong text is refused.
        assert!(!chunks[2].restore(Bytes::from(texts[1].clone())));
        assert!(chunks[2].restore(Bytes::from(texts[2].clone())) && chunks[4].restore(Bytes::from(texts[4].clone())));
        chunks[3] = Chunk::new(entry(3000).repeat(8));
        let second = gzip(&chunks);
        let mut expected = texts.clone();
        expected[3] = entry(3000).repeat(8);
        assert_eq!(gunzip(&joined(&second)), expected.concat());
        let plain: Vec<u8> = inflated(Arc::new(second)).collect::<Vec<_>>().concat();
        assert_eq!(String::from_utf8(plain).unwrap(), expected.concat());
    }

    #[test]
    fn a_chunk_compresses_against_the_one_before_it() {
        let a = Chunk::new(entry(1).repeat(3));
        let b = Chunk::new(entry(1).repeat(3));
        let alone = b.deflated_after(None).len();
        let after = b.deflated_after(Some(&a)).len();
        assert!(after * 2 < alone, "with its predecessor as dictionary: {after} bytes, alone: {alone}");
    }
}
