from services.workflow.main import main

main()
