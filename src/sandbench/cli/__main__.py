from sandbench.cli import main

main()
