//! Background samplers: health probes of every cluster (and what a cluster's return starts),
//! the consumer lag gauge, and the group coordinator's clock.

use crate::proxy::Proxy;
use std::sync::Arc;
use tokio::sync::watch;

/// Probes every cluster and updates the health and connection gauges every second.
pub async fn sample_health(proxy: Arc<Proxy>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(crate::base::timing::HEALTH_SAMPLE_EVERY);
    let mut was_up = proxy.clusters().map(|_| true);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        // In parallel: a hung cluster's probe must not delay the others'.
        futures::future::join_all(proxy.clusters().iter().map(|c| async move {
            if let Err(e) = c.probe().await {
                tracing::debug!("health probe: {e}");
            }
        }))
        .await;
        for (k, c) in proxy.clusters().iter_indexed() {
            let s = c.status();
            // A cluster back from an outage gets the commits it missed.
            if s.reachable && !was_up[k] && proxy.replicator().is_some() {
                // `k` is also the replicator's index: one cluster order in the process.
                proxy.books().groups().unmirrored_all(k);
            }
            was_up[k] = s.reachable;
            proxy
                .metrics()
                .cluster_health
                .with_label_values(&[&s.id])
                .set(s.state.gauge());
            proxy
                .metrics()
                .cluster_connections
                .with_label_values(&[&s.id])
                .set(s.connections as i64);
        }
    }
}

/// Updates the consumer lag gauge every 5 s (its own task: a slow cluster must not delay
/// the health probes).
pub async fn sample_lag(proxy: Arc<Proxy>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(crate::base::timing::LAG_SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        proxy.sample_consumer_lag().await;
    }
}

/// Runs the proxy's group coordinator clock: silent members expire and overdue rounds end
/// in the groups this instance owns.
pub async fn tick_groups(proxy: Arc<Proxy>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(crate::base::timing::GROUP_TICK_EVERY);
    let me = proxy.identity().node_id;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        if !proxy.books().loaded() {
            continue;
        }
        proxy
            .books()
            .groups()
            .tick(|g| proxy.membership().group_owner(g.as_str()) == Some(me));
    }
}

/// Aborts transactions left open past their timeout (and fences their producers), and
/// finishes commits left pending.
pub async fn expire_transactions(proxy: Arc<Proxy>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(crate::base::timing::GROUP_TICK_EVERY);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        proxy.books().transactions().expire().await;
        proxy.finish_pending_commits();
    }
}
