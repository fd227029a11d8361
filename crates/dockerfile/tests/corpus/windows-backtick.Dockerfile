# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
WORKDIR C:\app
COPY bin\ C:\app\
RUN Get-ChildItem C:\app | `
    Format-List
USER ContainerUser
ENTRYPOINT ["C:\\app\\server.exe"]
