//! Fixed, seeded, class-stratified subsets.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Picks `n` indices with each class represented in proportion to its size (largest
/// remainders get the leftover places, lower class first on ties), shuffled with `seed`
/// within each class. Returned in ascending order.
pub fn stratified(labels: &[u32], n: usize, seed: u64) -> Vec<usize> {
    let total = labels.len();
    let n = n.min(total);
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut members = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        members[l as usize].push(i);
    }
    let exact: Vec<f64> = members
        .iter()
        .map(|m| m.len() as f64 * n as f64 / total as f64)
        .collect();
    let mut quota: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..classes).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let mut left = n - quota.iter().sum::<usize>();
    for &c in order.iter().cycle().take(classes * 2) {
        if left == 0 {
            break;
        }
        if quota[c] < members[c].len() {
            quota[c] += 1;
            left -= 1;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005e_ed5a_b5e7);
    let mut out = Vec::with_capacity(n);
    for (m, q) in members.iter_mut().zip(quota) {
        m.shuffle(&mut rng);
        out.extend_from_slice(&m[..q]);
    }
    out.sort_unstable();
    out
}
