"""The README's first command: PyTorch's doc examples and one compile-once example."""

import compile_once
import pytorch_doc_examples

if __name__ == "__main__":
    pytorch_doc_examples.main()
    print()
    compile_once.main()
