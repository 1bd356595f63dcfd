from ckptlens.cli import main

raise SystemExit(main())
