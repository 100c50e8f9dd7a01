from litgd.cli import main

main()
