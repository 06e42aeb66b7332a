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
