"""Comparisons shared by the tests side by side with PyTorch (import after ``pytest.importorskip("torch")``)."""

import torch


def assert_same(ours, theirs, tol=1e-5):
    """Same nesting (tuples), and tensors alike in every way PyTorch's results can differ."""
    if isinstance(theirs, tuple):
        assert type(ours) is tuple and len(ours) == len(theirs), (ours, theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b, tol)
        return
    assert type(ours) is torch.Tensor, type(ours)
    assert (ours.shape, ours.dtype, ours.device) == (theirs.shape, theirs.dtype, theirs.device)
    assert (ours.grad_fn is None, ours.requires_grad) == (theirs.grad_fn is None, theirs.requires_grad)
    torch.testing.assert_close(ours, theirs, rtol=tol, atol=tol)
