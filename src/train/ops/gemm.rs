//! Matrix products on host slices through the `gemm` crate (the kernel Burn's flex backend
//! multiplies with), for the host operations: the convolution, the linear layer and attention.

/// A row-major or transposed view of a matrix in a slice: element `(r, c)` at
/// `r * row_stride + c * col_stride`.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major `_ x cols` matrix.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major `_ x cols` matrix.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// Any layout: element `(r, c)` at `r * row_stride + c * col_stride` (a head's queries
    /// inside a `[tokens, 3C]` projection, say).
    pub fn strided(data: &'a [f32], row_stride: usize, col_stride: usize) -> Self {
        Self {
            data,
            row_stride,
            col_stride,
        }
    }

    /// Checks that every element of a `rows x cols` matrix lies in the slice.
    fn check(&self, rows: usize, cols: usize) {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
            assert!(last < self.data.len(), "matrix view past its slice");
        }
    }
}

/// A row-major matrix to write: element `(r, c)` at `r * row_stride + c`.
pub(super) struct Out<'a> {
    pub data: &'a mut [f32],
    pub row_stride: usize,
}

/// `c[m x n] = a[m x k] · b[k x n]` (or `+=` with `accumulate`), `c` row-major and contiguous.
pub(super) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    c: &mut [f32],
    accumulate: bool,
) {
    let c = Out {
        data: c,
        row_stride: n,
    };
    product([m, n, k], a, b, c, accumulate, 1.0);
}

/// `c[m x n] = scale · a[m x k] · b[k x n]`, or `c += ...` with `accumulate`.
pub(super) fn product(
    [m, n, k]: [usize; 3],
    a: View,
    b: View,
    c: Out,
    accumulate: bool,
    scale: f32,
) {
    a.check(m, k);
    b.check(k, n);
    let fits = m == 0 || n == 0 || (m - 1) * c.row_stride + n <= c.data.len();
    assert!(fits, "output matrix past its slice");
    assert!(m <= 1 || n <= c.row_stride, "output rows overlap");
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the three checks above keep every index gemm touches inside its slice (rows of
    // `c` do not overlap: `n <= row_stride` unless there is one row); `c` is borrowed
    // mutably, so it aliases neither `a` nor `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.data.as_mut_ptr(),
            1,
            c.row_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
