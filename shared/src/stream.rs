//! Small stream adapters shared by the bulk paths.

use futures_util::stream::BoxStream;

/// Turns a tokio channel receiver into a boxed stream, e.g. to feed `LOAD DATA LOCAL INFILE`
/// from a producer thread while the connection sends.
pub fn receiver_stream<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> BoxStream<'static, T> {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|x| (x, rx))
    }))
}

/// Bytes per piece of a `LOAD DATA LOCAL INFILE` stream.
pub const INFILE_PIECE: usize = 1 << 20;

/// Cuts a `LOAD DATA LOCAL INFILE` payload into pieces of at most [`INFILE_PIECE`] bytes,
/// without copying. The driver sends each piece as one packet and the server refuses a
/// packet above its `max_allowed_packet` (16 MiB by default), so a payload of any size must
/// go in pieces; the server reads the file as one byte stream, so a piece may end anywhere,
/// even inside a row or a character.
pub fn infile_pieces(data: bytes::Bytes) -> Vec<std::io::Result<bytes::Bytes>> {
    (0..data.len())
        .step_by(INFILE_PIECE)
        .map(|at| Ok(data.slice(at..data.len().min(at + INFILE_PIECE))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_payload_in_order_and_none_is_too_large() {
        for len in [
            0,
            1,
            INFILE_PIECE - 1,
            INFILE_PIECE,
            INFILE_PIECE + 1,
            5 * INFILE_PIECE + 7,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let pieces = infile_pieces(bytes::Bytes::from(data.clone()));
            assert_eq!(pieces.len(), len.div_ceil(INFILE_PIECE));
            let mut joined = Vec::new();
            for p in pieces {
                let p = p.unwrap_or_default();
                assert!(!p.is_empty() && p.len() <= INFILE_PIECE);
                joined.extend_from_slice(&p);
            }
            assert_eq!(joined, data);
        }
    }
}
