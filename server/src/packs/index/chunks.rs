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

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// Deflate's window: a dictionary longer than this is never referred to.
const WINDOW: usize = 32 * 1024;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A piece of a document: its text (one or more shared buffers) and its deflate form, made on
/// first need for the chunk that precedes it.
pub struct Chunk {
    /// Unique for the life of the process: names this chunk's text, which never changes.
    id: u64,
    parts: Vec<Bytes>,
    len: usize,
    /// The deflate form and the id of the chunk it was compressed after (0: the first).
    deflated: std::sync::Mutex<Option<(u64, Bytes)>>,
}

impl Chunk {
    pub fn new(plain: impl Into<Bytes>) -> Arc<Self> {
        Self::of_parts(vec![plain.into()])
    }

    /// A chunk whose text is these buffers one after the other (shared, not copied).
    pub fn of_parts(parts: Vec<Bytes>) -> Arc<Self> {
        let len = parts.iter().map(Bytes::len).sum();
        Arc::new(Self { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), parts, len, deflated: std::sync::Mutex::new(None) })
    }

    /// The text, as the shared buffers it is made of.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// The last `n` bytes of the text (or all of it).
    fn tail(&self, n: usize) -> Vec<u8> {
        let mut tail = Vec::with_capacity(n.min(self.len));
        let mut skip = self.len.saturating_sub(n);
        for part in &self.parts {
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            tail.extend_from_slice(&part[skip..]);
            skip = 0;
        }
        tail
    }

    /// The deflate form of this chunk when it follows `previous` in a document.
    fn deflated_after(&self, previous: Option<&Self>) -> Bytes {
        let key = previous.map_or(0, |p| p.id);
        let mut cached = self.deflated.lock().expect("not poisoned");
        if let Some((after, bytes)) = &*cached
            && *after == key
        {
            return bytes.clone();
        }
        // Level 6: on an index of 100,000 versions, 5.4 MiB in 0.5 s, where level 1 gave
        // 8.8 MiB in 0.3 s and levels 8 and 9 (zlib-rs) were slower for no more than 3 %.
        let mut compress = flate2::Compress::new(flate2::Compression::default(), false);
        if let Some(previous) = previous.filter(|p| p.len > 0) {
            compress.set_dictionary(&previous.tail(WINDOW)).expect("a dictionary before any input");
        }
        let mut out = Vec::with_capacity(self.len / 4 + 64);
        for part in &self.parts {
            deflate_into(&mut compress, part, &mut out, flate2::FlushCompress::None);
        }
        deflate_into(&mut compress, &[], &mut out, flate2::FlushCompress::Full);
        let bytes = Bytes::from(out);
        *cached = Some((key, bytes.clone()));
        bytes
    }
}

fn deflate_into(compress: &mut flate2::Compress, mut input: &[u8], out: &mut Vec<u8>, flush: flate2::FlushCompress) {
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let before = compress.total_in();
        compress.compress_vec(input, out, flush).expect("deflate into memory");
        input = &input[usize::try_from(compress.total_in() - before).expect("fits")..];
        // Done once the input is used and the compressor left output room unused (so a
        // flush is complete).
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
}

/// One gzip member made of the chunks' deflate forms: header, the chunks, an empty final
/// block, and the CRC and length of the whole (a CRC pass over the text runs at memory speed;
/// combining 10,000 chunk CRCs was slower). Joined into one buffer.
pub fn gzip(chunks: &[Arc<Chunk>]) -> Bytes {
    let mut deflated = Vec::with_capacity(chunks.len());
    let mut crc = crc32fast::Hasher::new();
    let mut length: u64 = 0;
    let mut previous: Option<&Chunk> = None;
    for chunk in chunks {
        deflated.push(chunk.deflated_after(previous));
        for part in &chunk.parts {
            crc.update(part);
        }
        length += chunk.len as u64;
        previous = Some(chunk);
    }
    let header = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut all = bytes::BytesMut::with_capacity(header.len() + deflated.iter().map(Bytes::len).sum::<usize>() + 10);
    all.extend_from_slice(&header);
    for d in &deflated {
        all.extend_from_slice(d);
    }
    all.extend_from_slice(&[0x03, 0x00]);
    all.extend_from_slice(&crc.finalize().to_le_bytes());
    #[allow(clippy::cast_possible_truncation)] // gzip keeps the length modulo 2^32
    all.extend_from_slice(&(length as u32).to_le_bytes());
    all.freeze()
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
        chunks.iter().flat_map(|c| c.parts().iter()).map(|p| std::str::from_utf8(p).unwrap()).collect()
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
        // A chunk of several shared buffers, and an empty one.
        chunks.push(Chunk::of_parts(vec![comma.clone(), Bytes::from(entry(50))]));
        chunks.push(Chunk::of_parts(Vec::new()));
        chunks.push(Chunk::new("generated: now\n"));
        let first = gzip(&chunks);
        assert_eq!(gunzip(&first), text_of(&chunks));

        // Replace, remove and insert chunks: cached forms made after another predecessor
        // must not be reused.
        chunks[10] = Chunk::new(entry(1000));
        chunks.remove(20);
        chunks.insert(30, Chunk::new(entry(2000)));
        chunks.swap(3, 4);
        let second = gzip(&chunks);
        assert_eq!(gunzip(&second), text_of(&chunks));
        assert_ne!(first, second);
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
