using Portal;

var builder = PortalHost.CreateBuilder(args);
builder.AddPortalServices();

var app = builder.Build();
app.MapPortal();
app.Run();
