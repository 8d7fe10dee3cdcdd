//! Batches in a given order: borrowed from a set held in memory, or decoded ahead of the
//! trainer by a thread with its own pool of decode workers (prefetch) when images stream
//! from files. Both give the same bytes, so a streamed run computes what an in-memory one does.

use std::borrow::Cow;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use super::images::{FileCrop, FileSet, Images};
use super::{DataError, ImageSet};

/// How streamed images are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streaming {
    /// Decode threads.
    pub workers: usize,
    /// Batches decoded ahead of the one being trained on.
    pub prefetch: usize,
}

impl Default for Streaming {
    /// All cores, 4 batches ahead.
    fn default() -> Self {
        Streaming {
            workers: std::thread::available_parallelism().map_or(4, |n| n.get()),
            prefetch: 4,
        }
    }
}

/// One batch: its images, where its samples are in them, and their indices in the full set.
#[derive(Debug)]
pub struct Batch<'a> {
    /// Images holding the batch (the whole set in memory, or just the batch, decoded).
    pub set: Cow<'a, ImageSet>,
    /// Position of each sample of the batch in `set`.
    pub local: Cow<'a, [usize]>,
    /// Index of each sample of the batch in the full set.
    pub global: &'a [usize],
    /// With a crop taken at decoding ([`Loader::cropped`]) and a clean view asked for: the
    /// batch's stored views, positioned as in `set`.
    pub clean: Option<ImageSet>,
}

impl Batch<'_> {
    /// The labels of the batch, in order.
    pub fn labels(&self) -> Vec<u32> {
        self.local.iter().map(|&i| self.set.labels[i]).collect()
    }
}

type Decoded = Result<(ImageSet, Option<ImageSet>), DataError>;

/// The batches of `order` in chunks of `batch_size`.
pub struct Loader<'a> {
    images: &'a Images,
    chunks: std::slice::Chunks<'a, usize>,
    stream: Option<(Receiver<Decoded>, Option<JoinHandle<()>>)>,
}

impl<'a> Loader<'a> {
    /// Starts loading; with files, a thread begins decoding the first batches at once.
    pub fn new(images: &'a Images, order: &'a [usize], batch_size: usize) -> Self {
        Self::cropped(images, order, batch_size, None, false)
    }

    /// As [`Loader::new`]; streamed files are decoded as `crop` says (a random-resized crop
    /// of each whole file), and with `clean` also as stored (each batch's
    /// [`Batch::clean`]). Images in memory are as they are.
    pub fn cropped(
        images: &'a Images,
        order: &'a [usize],
        batch_size: usize,
        crop: Option<FileCrop>,
        clean: bool,
    ) -> Self {
        let stream = match images {
            Images::Memory(_) => None,
            Images::Files(files) => Some(spawn(
                files.clone(),
                order.to_vec(),
                batch_size,
                (crop, clean && crop.is_some()),
            )),
        };
        Loader {
            images,
            chunks: order.chunks(batch_size.max(1)),
            stream,
        }
    }
}

/// A thread decoding the batches of `order` in turn, at most `prefetch` ahead. Should the
/// thread not start, the channel holds that error for the first batch.
fn spawn(
    files: FileSet,
    order: Vec<usize>,
    batch_size: usize,
    (crop, clean): (Option<FileCrop>, bool),
) -> (Receiver<Decoded>, Option<JoinHandle<()>>) {
    let Streaming { workers, prefetch } = files.streaming;
    let (tx, rx) = sync_channel(prefetch.max(1));
    let failed = tx.clone();
    let handle = std::thread::Builder::new()
        .name("dynunc-prefetch".into())
        .spawn(move || {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(workers.max(1))
                .thread_name(|i| format!("dynunc-decode-{i}"))
                .build();
            for chunk in order.chunks(batch_size.max(1)) {
                let decoded = match &pool {
                    Ok(pool) => pool.install(|| {
                        let set = files.decode_with(chunk, crop)?;
                        let stored = clean.then(|| files.decode(chunk)).transpose()?;
                        Ok((set, stored))
                    }),
                    Err(e) => Err(DataError::Loader(format!("starting decode threads: {e}"))),
                };
                let failed = decoded.is_err();
                // The receiver is gone when training stopped early: nothing more to do.
                if tx.send(decoded).is_err() || failed {
                    break;
                }
            }
        });
    match handle {
        Ok(handle) => (rx, Some(handle)),
        Err(e) => {
            let _ = failed.send(Err(DataError::Loader(format!(
                "cannot start the prefetch thread: {e}"
            ))));
            (rx, None)
        }
    }
}

impl<'a> Iterator for Loader<'a> {
    type Item = Result<Batch<'a>, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let global = self.chunks.next()?;
        match (self.images, &self.stream) {
            (Images::Memory(set), _) => Some(Ok(Batch {
                set: Cow::Borrowed(set),
                local: Cow::Borrowed(global),
                global,
                clean: None,
            })),
            (Images::Files(_), Some((rx, _))) => Some(match rx.recv() {
                Ok(Ok((set, clean))) => Ok(Batch {
                    set: Cow::Owned(set),
                    local: Cow::Owned((0..global.len()).collect()),
                    global,
                    clean,
                }),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(DataError::Loader(
                    "the prefetch thread stopped unexpectedly (see the message above)".into(),
                )),
            }),
            (Images::Files(_), None) => unreachable!("a file set always has a prefetch thread"),
        }
    }
}

impl Drop for Loader<'_> {
    fn drop(&mut self) {
        if let Some((rx, handle)) = self.stream.take() {
            // Closing the channel stops the thread after the batch it is decoding.
            drop(rx);
            if let Some(handle) = handle {
                let _ = handle.join();
            }
        }
    }
}
