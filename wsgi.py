from biller_server.app import create_app

app = create_app()
